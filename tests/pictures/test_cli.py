"""`archcalc draw`, `report`, `compare --format html` and `run --save-maps` from the command line."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_draw_writes_svg_and_refuses_blocks_for_a_graph(tmp_path):
    out = tmp_path / "g.svg"
    result = invoke("draw", "specs/googlenet.yaml", "-o", str(out), "--depth", "1", "--direction", "lr")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out} (")
    names = [g.get("data-layer") for g in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}g")
             if g.get("class") == "node"]
    assert names[:3] == ["input", "conv1", "pool1"] and "inception_3a" in names and "inception_3a/1x1" not in names
    bad = tmp_path / "b.svg"
    result = invoke("draw", "specs/googlenet.yaml", "-o", str(bad), "--style", "blocks")
    assert result.exit_code == 2 and "graph style" in result.output and len(result.output.splitlines()) == 1
    assert not bad.exists()


def test_draw_png_or_one_line(tmp_path, monkeypatch):
    out = tmp_path / "a.png"
    monkeypatch.setitem(sys.modules, "cairosvg", None)
    result = invoke("draw", "specs/alexnet.yaml", "-o", str(out), "--style", "blocks")
    assert result.exit_code == 2 and "archcalc[image]" in result.output and len(result.output.splitlines()) == 1
    assert not out.exists()
    monkeypatch.undo()
    pytest.importorskip("cairosvg")
    result = invoke("draw", "specs/alexnet.yaml", "-o", str(out), "--style", "blocks")
    assert result.exit_code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_never_writes_onto_a_directory_or_device(tmp_path):
    result = invoke("draw", "specs/lenet5.yaml", "-o", "/dev/null")
    assert result.exit_code == 2 and "not a regular file" in result.output


def test_report_with_input_embeds_the_maps(tmp_path):
    pytest.importorskip("PIL")
    digit = tmp_path / "x.npy"
    np.save(digit, np.ones((28, 28, 1), dtype=np.float32))
    out = tmp_path / "r.html"
    result = invoke("report", "specs/mnist_deep.yaml", "-o", str(out), "--input", str(digit), "--convention", "flops")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.count('src="data:image/png;base64,') == 6  # conv1, pool1, conv2, pool2, conv3, pool3
    assert 'card-label">FLOPs<' in text  # Convention.heading: FLOPs, MACs, Mult-Adds (torchinfo)


def test_compare_html(tmp_path):
    out = tmp_path / "zoo.html"
    result = invoke("compare", "specs/lenet5.yaml", "specs/alexnet.yaml", "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "LeNet-5" in text and "62,378,344" in text


def test_run_save_maps(tmp_path):
    pytest.importorskip("PIL")
    digit = tmp_path / "x.npy"
    np.save(digit, np.ones((28, 28, 1), dtype=np.float32))
    maps = tmp_path / "maps"
    result = invoke("run", "specs/mnist_deep.yaml", "--input", str(digit), "--save-maps", str(maps), "--max-maps", "4")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(f"wrote 6 activation-map grids to {maps}")
    assert sorted(p.name for p in maps.iterdir()) == ["00_conv1.png", "01_pool1.png", "03_conv2.png", "04_pool2.png",
                                                      "06_conv3.png", "07_pool3.png"]


def test_run_save_maps_without_pillow_is_one_line_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    result = invoke("run", "specs/mnist_deep.yaml", "--random", "--save-maps", str(tmp_path / "m"))
    assert result.exit_code == 2 and result.output.startswith("error: activation maps need Pillow")
    assert not (tmp_path / "m").exists()
