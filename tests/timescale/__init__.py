"""TimescaleDB layout of the store, run on PGlite+TimescaleDB (see conftest.py)."""
