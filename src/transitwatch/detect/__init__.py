"""Event detectors: one module each, pure functions of state and time."""
