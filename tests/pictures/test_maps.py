"""Activation-map grids: one PNG per conv/pool layer of mnist_deep on a digit, with the expected tiles."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import archcalc
from archcalc.output.maps import FRAME, activation_maps, grid_geometry, save_maps
from archcalc.output.svg import MissingExtra

Image = pytest.importorskip("PIL.Image")


@pytest.fixture
def digit_npy(tmp_path):
    """A hand-drawn 7 on a 28x28 grey canvas (MNIST's layout: ink 1.0 on 0.0), written as .npy."""
    x = np.zeros((28, 28, 1), dtype=np.float32)
    x[5:8, 6:22] = 1.0  # the bar
    for row in range(8, 24):  # the stroke, two pixels wide, drifting left
        col = 21 - (row - 8) // 2
        x[row, col - 1:col + 1] = 1.0
    path = tmp_path / "seven.npy"
    np.save(path, x)
    return path


# (file, shape, tiles, columns x rows, tile side): 48 px minimum by an integer factor, ceil(sqrt(n)) columns
EXPECTED = [
    ("00_conv1.png", (28, 28, 32), 32, (6, 6), 56),   # 28 * 2
    ("01_pool1.png", (14, 14, 32), 32, (6, 6), 56),   # 14 * 4
    ("03_conv2.png", (14, 14, 64), 64, (8, 8), 56),
    ("04_pool2.png", (7, 7, 64), 64, (8, 8), 49),     # 7 * 7
    ("06_conv3.png", (7, 7, 128), 64, (8, 8), 49),    # 64 of 128 maps
    ("07_pool3.png", (4, 4, 128), 64, (8, 8), 48),    # 4 * 12
]


def framed_tiles(img, cols: int, rows: int, side: int) -> int:
    """Slots whose top-left pixel is the tile frame's colour (an empty slot is white)."""
    rgb = img.convert("RGB")
    return sum(rgb.getpixel((2 + c * (side + 4), 20 + r * (side + 4))) == FRAME for r in range(rows) for c in range(cols))


def test_save_maps_on_a_digit_gives_one_grid_per_conv_and_pool_layer(digit_npy, tmp_path):
    from archcalc.engine.run import load_input

    net = archcalc.load_spec("specs/mnist_deep.yaml")
    x = load_input(str(digit_npy), net)
    out = tmp_path / "maps"
    paths = save_maps(activation_maps(net, x, seed=0), archcalc.analyze(net), out)
    assert sorted(p.name for p in out.iterdir()) == [e[0] for e in EXPECTED]
    assert [p.name for p in paths] == [e[0] for e in EXPECTED]
    for name, (h, w, c), tiles, (cols, rows), side in EXPECTED:
        with Image.open(out / name) as img:
            # 2 px gaps, a 1 px frame each side of a tile, an 18 px header with the name and shape
            assert img.size == (2 + cols * (side + 4), 18 + 2 + rows * (side + 4)), name
            assert framed_tiles(img, cols, rows, side) == tiles, name
        g = grid_geometry(h, w, c)
        assert (g.count, g.cols, g.rows, g.tile_h, g.tile_w) == (tiles, cols, rows, side, side)


def test_grids_from_forward_activations_and_max_maps(digit_npy, tmp_path):
    net = archcalc.load_spec("specs/mnist_deep.yaml")
    x = np.load(digit_npy)[None]
    acts = archcalc.forward(net, x, archcalc.init_params(net, seed=0), return_all=True)
    paths = save_maps(acts, archcalc.analyze(net), tmp_path, max_maps=16)
    assert len(paths) == 6
    with Image.open(paths[0]) as img:  # conv1: 16 of 32 maps in 4 x 4 tiles of 56 px
        assert img.size == (2 + 4 * 60, 20 + 4 * 60)
        assert framed_tiles(img, 4, 4, 56) == 16


def test_each_tile_is_normalised_on_its_own(tmp_path):
    from archcalc.output.maps import grid_png
    import io

    fmap = np.zeros((48, 48, 2))
    fmap[:, :24, 0] = 1000.0  # channel 0: 0 | 1000 ; channel 1: -3 | -2
    fmap[:, :, 1] = -3.0
    fmap[:, 24:, 1] = -2.0
    with Image.open(io.BytesIO(grid_png(fmap, "t"))) as img:
        rgb = img.convert("RGB")
        for k in range(2):
            x0 = 2 + k * 52 + 1
            assert rgb.getpixel((x0, 21)) in ((255, 255, 255), (0, 0, 0))
            assert {rgb.getpixel((x0 + 5, 30)), rgb.getpixel((x0 + 40, 30))} == {(255, 255, 255), (0, 0, 0)}


def test_without_pillow_a_one_line_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    net = archcalc.load_spec("specs/mnist_deep.yaml")
    with pytest.raises(MissingExtra, match=r"Pillow: pip install 'archcalc\[image\]'") as info:
        activation_maps(net, np.zeros((28, 28, 1), dtype=np.float32))
    assert "\n" not in str(info.value)


def test_save_maps_refuses_a_file_where_the_directory_should_be(tmp_path):
    from archcalc.errors import ArchcalcError

    target = tmp_path / "maps"
    target.write_text("keep me")
    report = archcalc.analyze("specs/mnist_deep.yaml")
    with pytest.raises(ArchcalcError, match="not a directory"):
        save_maps({"conv1": b"png"}, report, target)
    assert target.read_text() == "keep me"
