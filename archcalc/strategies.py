"""Alias of `archcalc.testing.strategies` (the README documents `from archcalc.strategies import specs`)."""

from .testing.strategies import *  # noqa: F401,F403
from .testing.strategies import __all__  # noqa: F401
