"""Weights on disk (.npz round trip, errors that name layer and key) and the `init` / `run` commands."""


import numpy as np
import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.engine.forward import ParamsError
from archcalc.engine.run import parse_size
from archcalc.engine.weights import load_params, save_params
from archcalc.errors import LoadError

LENET = "specs/lenet5.yaml"


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(main, list(args), terminal_width=120, catch_exceptions=False)


def test_npz_round_trip(tmp_path):
    net = archcalc.load_spec("specs/resnet18.yaml")  # names with dots and slashes, batchnorm, no conv bias
    params = archcalc.init_params(net, seed=5)
    path = save_params(tmp_path / "w.npz", params)
    with np.load(path) as data:
        assert "conv1.weight" in data.files and "bn1.moving_variance" in data.files
        assert not any(k.endswith(".bias") and k.startswith("conv") for k in data.files)
    back = load_params(path, net)
    assert back.keys() == params.keys()
    for layer, entry in params.items():
        assert back[layer].keys() == entry.keys()
        for key, arr in entry.items():
            np.testing.assert_array_equal(back[layer][key], arr)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temporary left behind


def test_load_errors_name_layer_and_key(tmp_path):
    net = archcalc.load_spec(LENET)
    params = archcalc.init_params(net)
    params["c3"]["weight"] = params["c3"]["weight"][:, :, :, :8]
    save_params(tmp_path / "bad.npz", params)
    with pytest.raises(ParamsError) as err:
        load_params(tmp_path / "bad.npz", net)
    assert "layer 2 (c3), field 'weight': 'weight' has shape [5, 5, 6, 8], the spec needs [5, 5, 6, 16]" in str(err.value)
    del params["c3"]
    save_params(tmp_path / "missing.npz", params)
    with pytest.raises(ParamsError, match=r"layer 2 \(c3\).*no parameters"):
        load_params(tmp_path / "missing.npz", net)
    np.savez(tmp_path / "extra.npz", **{"c1.weight": np.zeros((5, 5, 1, 6)), "c1.bias": np.zeros(6),
                                        "c1.gamma": np.zeros(6)})
    with pytest.raises(ParamsError, match="unknown parameter 'gamma'"):
        load_params(tmp_path / "extra.npz", net)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LoadError, match="not a valid .npz"):
        load_params(tmp_path / "corrupt.npz", net)
    with pytest.raises(LoadError, match="not found"):
        load_params(tmp_path / "nope.npz", net)


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError):
        save_params(tmp_path / "w.npz", {"c": {"weight": np.zeros(2)}})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, value", [("512MiB", 512 * 2**20), ("2GiB", 2 * 2**30), ("4GB", 4 * 10**9),
                                         ("1.5G", int(1.5 * 2**30)), ("1000", 1000), ("64 kb", 64000)])
def test_parse_size(text, value):
    assert parse_size(text) == value


def test_cli_init_then_run(runner, tmp_path):
    w = tmp_path / "w.npz"
    res = invoke(runner, "init", LENET, "-o", str(w), "--seed", "3")
    assert res.exit_code == 0 and "61,706 parameters" in res.output
    x = np.random.default_rng(0).standard_normal((32, 32, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    res = invoke(runner, "run", LENET, "--input", str(tmp_path / "x.npy"), "--weights", str(w), "--save", str(out))
    assert res.exit_code == 0, res.output
    assert "top-5" in res.output and "c5" in res.output and "1x1x120" in res.output
    assert "s2" not in res.output  # pools only with --all
    y = np.load(out)
    net = archcalc.load_spec(LENET)
    np.testing.assert_allclose(y, archcalc.forward(net, x[None], load_params(w, net)), rtol=1e-6)
    res = invoke(runner, "run", LENET, "--random", "--all", "--batch", "3", "--dtype", "float64")
    assert res.exit_code == 0
    assert "14x14x6" in res.output and "sample 2" in res.output and "float64" in res.output


def test_cli_run_bad_inputs_exit_2(runner, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((28, 28, 1)))
    res = invoke(runner, "run", LENET, "--input", str(tmp_path / "wrong.npy"))
    assert res.exit_code == 2 and "input has shape (28, 28, 1); the spec needs (32, 32, 1)" in res.output
    res = invoke(runner, "run", LENET, "--input", str(tmp_path / "absent.npy"))
    assert res.exit_code == 2 and "input file not found" in res.output
    (tmp_path / "w.npz").write_bytes(b"garbage")
    res = invoke(runner, "run", LENET, "--random", "--weights", str(tmp_path / "w.npz"))
    assert res.exit_code == 2 and "not a valid .npz" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = invoke(runner, "run", LENET)
    assert res.exit_code == 2 and "exactly one of --input" in res.output


def test_cli_run_refuses_over_budget(runner):
    res = invoke(runner, "run", "specs/vgg16.yaml", "--random", "--batch", "64")
    assert res.exit_code == 2
    assert "needs about" in res.output and "--max-memory" in res.output and "2.00 GiB" in res.output
    res = invoke(runner, "run", LENET, "--random", "--max-memory", "100KiB")
    assert res.exit_code == 2 and "budget of 100.00 KiB" in res.output


def test_cli_run_image_needs_pillow_or_resizes(runner, tmp_path):
    try:
        from PIL import Image
    except ImportError:
        (tmp_path / "x.png").write_bytes(b"\x89PNG")
        res = invoke(runner, "run", LENET, "--input", str(tmp_path / "x.png"))
        assert res.exit_code == 2 and "archcalc[image]" in res.output
        return
    Image.new("RGB", (50, 40), (255, 0, 0)).save(tmp_path / "x.png")
    res = invoke(runner, "run", LENET, "--input", str(tmp_path / "x.png"), "--all")
    assert res.exit_code == 0, res.output
