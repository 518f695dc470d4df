"""Exported code without the frameworks: it compiles, imports no archcalc, names layers after the spec, and refuses
what a framework cannot express.  The torch- and keras-marked tests run it (test_frameworks.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import archcalc
from archcalc.errors import SpecError
from archcalc.interop import export_code, export_spec

SPECS = sorted(Path(__file__).resolve().parents[2].joinpath("specs").glob("*.yaml"))


@pytest.mark.parametrize("to", ["pytorch", "keras"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_shipped_spec_exports_to_code_without_archcalc(spec, to):
    code = export_code(archcalc.load_spec(spec), to)
    tree = ast.parse(code)
    imported = {alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for alias in n.names} | {n.module.split(".")[0] for n in ast.walk(tree)
                                         if isinstance(n, ast.ImportFrom) and n.module}
    assert "archcalc" not in imported
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    if to == "pytorch":
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        assert len(classes) == 1 and {"__init__", "forward", "load_archcalc_weights"} <= functions
    else:
        assert {"build_model", "load_archcalc_weights"} <= functions


def test_pytorch_code_reads_like_the_spec():
    code = export_code(archcalc.load_spec({"name": "tiny", "input": [32, 32, 3], "layers": [
        {"type": "conv", "name": "conv1", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
        {"type": "conv", "name": "conv2", "filters": 8, "kernel": 3, "stride": 2, "padding": "same"},
        {"type": "maxpool", "name": "pool", "kernel": 3, "stride": 2, "rounding": "ceil"},
        {"type": "add", "name": "sum", "inputs": ["pool", "pool"]},
        {"type": "global_avgpool", "name": "gap"},
        {"type": "dense", "name": "fc", "units": 10, "activation": "softmax"}]}), "pytorch")
    assert "class Tiny(nn.Module):" in code
    assert "self.conv1 = nn.Conv2d(3, 8, kernel_size=3, padding=1)" in code
    # SAME with stride 2 on 32 pads 0 before and 1 after: PyTorch's symmetric padding cannot say that
    assert "self.conv2 = nn.Conv2d(8, 8, kernel_size=3, stride=2)" in code
    assert "x = self.conv2(F.pad(x, (0, 1, 0, 1)))" in code
    assert "self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)" in code
    assert "x = F.relu(self.conv1(x))" in code
    assert "x = pool + pool" in code
    assert "x = torch.softmax(self.fc(x), dim=1)" in code


def test_keras_code_reads_like_the_spec():
    code = export_code(archcalc.load_spec({"name": "tiny", "input": [32, 32, 3], "layers": [
        {"type": "conv", "name": "conv1", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
        {"type": "conv", "name": "conv2", "filters": 8, "kernel": 3, "stride": 2, "padding": [[1, 0], [1, 0]]},
        {"type": "activation", "name": "act", "function": "leaky_relu"}]}), "keras")
    assert 'inputs = keras.Input(shape=(32, 32, 3), name="input")' in code
    assert 'x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)' in code
    assert 'x = layers.ZeroPadding2D(((1, 0), (1, 0)), name="conv2_pad")(x)' in code
    assert 'x = layers.LeakyReLU(negative_slope=0.1, name="act")(x)' in code


def test_a_layer_a_framework_cannot_express_is_an_error_naming_it():
    net = archcalc.load_spec({"input": [8, 8, 2], "layers": [
        {"type": "avgpool", "name": "odd_pool", "kernel": 3, "stride": 1, "padding": [[0, 2], [0, 2]]}]})
    for to in ("pytorch", "keras"):
        with pytest.raises(SpecError, match="layer 'odd_pool' \\(avgpool\\)"):
            export_code(net, to)


def test_export_spec_writes_the_file(tmp_path):
    out = tmp_path / "net.py"
    code = export_spec(SPECS[0], "pytorch", out)
    assert out.read_text() == code
    with pytest.raises(SpecError, match="choose one of pytorch, keras"):
        export_spec(SPECS[0], "jax", tmp_path / "other.py")
    assert not (tmp_path / "other.py").exists()


def test_without_onnx_one_line_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    path = tmp_path / "net.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(SpecError, match=r"^reading ONNX models needs the onnx package: pip install 'archcalc\[onnx\]'$"):
        archcalc.from_onnx(path)
