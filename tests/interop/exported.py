"""What the export tests share: loading a generated module from its text, and parameters that are not the identity."""

from __future__ import annotations

import importlib.util

import numpy as np

import archcalc


def load_module(code: str, tmp_path, name: str = "exported"):
    """Write the generated code to tmp_path/<name>.py and import it as a module."""
    path = tmp_path / f"{name}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_params(net, seed=1):
    """Glorot weights, and biases and batchnorm statistics that are not the identity."""
    params = archcalc.init_params(net, seed=seed)
    rng = np.random.default_rng(seed)
    for entry in params.values():
        for key, value in entry.items():
            if key != "weight":
                shift = 0.5 if key in ("gamma", "moving_variance") else -0.5
                entry[key] = (rng.random(value.shape, dtype=np.float32) + shift).astype(np.float32)
    return params
