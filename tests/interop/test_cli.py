"""`archcalc import` and `archcalc export` through click: exit codes, files written or not."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from .helpers import model, node, rand

import archcalc
from archcalc.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_import_writes_spec_and_weights(tmp_path):
    path = tmp_path / "net.onnx"
    m = model([node("Conv", ["x", "W"], "c", name="/conv1/Conv", kernel_shape=[3, 3]), node("Relu", ["c"])],
              (2, 8, 8), W=rand(4, 2, 3, 3))
    path.write_bytes(m.SerializeToString())
    result = run("import", path, "-o", tmp_path / "net.yaml", "--weights", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert result.output == f"net.onnx -> {tmp_path / 'net.yaml'}: 1 layers, 72 params (72 trainable), 2,592 MACs; " \
                            f"weights -> {tmp_path / 'w.npz'}\n"
    assert run("run", tmp_path / "net.yaml", "--weights", tmp_path / "w.npz", "--random").exit_code == 0


def test_unsupported_operator_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(model([node("Sin", ["x"], name="/s/Sin")], (2, 4, 4)).SerializeToString())
    result = run("import", path, "-o", tmp_path / "net.yaml", "--weights", tmp_path / "w.npz")
    assert result.exit_code == 2
    assert "node '/s/Sin' (Sin): operator Sin cannot be mapped to archcalc layers; supported: Add," in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx"]


@pytest.mark.parametrize("to", ["pytorch", "keras"])
def test_export_writes_the_module(tmp_path, to):
    out = tmp_path / "net.py"
    result = run("export", SPECS / "lenet5.yaml", "--to", to, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text() == archcalc.interop.export_code(archcalc.load_spec(SPECS / "lenet5.yaml"), to)


def test_export_refuses_what_the_framework_cannot_say(tmp_path):
    spec = tmp_path / "odd.yaml"
    spec.write_text("input: [8, 8, 2]\nlayers:\n  - {type: avgpool, name: odd, kernel: 3, stride: 1, "
                    "padding: [[0, 2], [0, 2]]}\n")
    result = run("export", spec, "--to", "keras", "-o", tmp_path / "net.py")
    assert result.exit_code == 2 and "layer 'odd' (avgpool)" in result.output
    assert not (tmp_path / "net.py").exists()
