"""Custodian patrols (文物保护员巡查): routes and checkpoints (`model`), the rounds they fall
due in (`plan`), how each round went and which call for an alert (`rounds`), and the
routes file (`routes_load`). Everything but the loader's file reading is pure."""
