"""Readers that yield :class:`~transitwatch.observation.Observation` objects."""
