"""Helpers for testing code against archcalc: public hypothesis strategies (`archcalc.testing.strategies`)."""
