"""relic-guard: the wiring and I/O of the heritage-site safety monitor (MQTT edge, store, web, CLI)."""

__version__ = "0.1.0"
