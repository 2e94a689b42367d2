"""transitwatch: watch who connects a network or a country to the Internet, from BGP data."""

from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation

__all__ = ["Observation", "ANNOUNCE", "WITHDRAW", "RIB", "STATE"]
__version__ = "0.1.0"
