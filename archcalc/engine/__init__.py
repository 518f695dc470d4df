"""NumPy forward-pass engine: vectorised kernels (kernels.py) and their plain twins (reference.py)."""
