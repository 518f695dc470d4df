"""Output formats (R3 reconciles this package at merge)."""
