"""solve, sweep, conventions, --batch/--training and fit."""

import json
import time

import pytest

from archcalc import analyze, load_spec
from archcalc.conventions import BudgetError, costing, get, largest_batch, parse_size
from archcalc.learn.solve import SolveError, solve, stack_rf, target_rf
from tests.learn.conftest import FIXTURES, SPECS


# --- solve -----------------------------------------------------------------------------------

def test_solve_7x7x3_to_5x5x1(run):
    r = run("solve", "--input", "7x7x3", "--output", "5x5x1")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[1].strip() == "kernel 3, stride 1, padding 0: filter 3x3x3, 1 filter"
    assert "kernel 5, stride 1, padding 1: filter 5x5x3, 1 filter" in r.stdout
    found = solve((7, 7, 3), (5, 5, 1))
    assert (found[0].kernel, found[0].stride, found[0].padding) == (3, 1, 0)
    assert [s.kernel for s in found] == sorted(s.kernel for s in found)


def test_every_solution_maps_input_to_output():
    for src, dst in [((7, 7, 3), (5, 5, 1)), ((11, 11, 1), (5, 5, 4)), ((227, 227, 3), (55, 55, 96)),
                     ((28, 32, 1), (14, 16, 8))]:
        for s in solve(src, dst):
            layer = {"type": "conv", "filters": s.filters, "kernel": s.kernel or 3, "stride": s.stride,
                     "padding": s.padding}
            assert analyze(load_spec({"input": list(src), "layers": [layer]})).output_shape == dst


def test_fixed_values(run):
    found = solve((7, 7, 3), (5, 5, 1), kernel=5)
    assert [(s.stride, s.padding) for s in found] == [(1, 1), (2, 3)]
    assert all(s.stride == 2 for s in solve((7, 7, 3), (5, 5, 1), stride=2))
    assert [(s.kernel, s.stride) for s in solve((7, 7, 3), (5, 5, 1), padding=0)] == [(3, 1)]
    same = solve((28, 28, 1), (14, 14, 5), padding="same")
    assert [(s.kernel, s.stride) for s in same] == [(None, 2)]
    r = run("solve", "--input", "227x227x3", "--output", "55x55x96", "--kernel", 11, "--padding", 0)
    assert "kernel 11, stride 4, padding 0: filter 11x11x3, 96 filters" in r.stdout


def test_solve_is_bounded_and_instant():
    start = time.perf_counter()
    found = solve((227, 227, 3), (55, 55, 96))
    assert time.perf_counter() - start < 1.0
    assert any((s.kernel, s.stride, s.padding) == (11, 4, 0) for s in found)


@pytest.mark.parametrize("args, message", [
    (["--input", "7x7x1", "--output", "9x9x1", "--padding", 0], "the output 9 is larger than the input 7"),
    (["--input", "7x7x1", "--output", "9x9x1", "--stride", 2], "only stride 1 can grow it"),
    (["--input", "7x7x1", "--output", "5x5"], "different numbers of axes"),
    (["--input", "7x7x1"], "give --input and --output"),
    (["--input", "7x7x1", "--output", "3x3x1", "--kernel", 2, "--padding", 0], "no conv maps 7x7 to 3x3"),
])
def test_impossible_targets_exit_2(run, args, message):
    r = run("solve", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output


def test_target_rf(run):
    stacks = target_rf(7, 3, stride=1)
    assert [(s.depth, s.receptive_field) for s in stacks] == [(3, 7)]
    deep = target_rf(195, 3)
    assert deep[0].depth == 97 and deep[0].receptive_field == 195
    assert all(b.depth < a.depth for a, b in zip(deep, deep[1:]))
    assert all(s.receptive_field >= 195 for s in deep)
    # the same receptive field as analysis.py computes it
    net = {"input": [300, 300, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3, "stride": s}
                                               for s in deep[2].strides], "rounding": "floor"}
    assert analyze(load_spec(net)).rows[-1].receptive_field.size == (deep[2].receptive_field,) * 2
    assert stack_rf(3, (1, 1)) == (5, 1)
    r = run("solve", "--target-rf", 7, "--kernel", 3, "--stride", 1)
    assert "3 conv layers of 3x3 (3 x stride 1): receptive field 7, jump 1" in r.stdout


# --- conventions -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alexnet():
    return analyze(load_spec(SPECS / "alexnet.yaml"))


def test_conventions_on_alexnet(alexnet):
    assert get("macs").count(alexnet) == 1_135_256_096
    assert get("torchinfo").count(alexnet) == 1_135_915_368
    assert get("flops").count(alexnet) == 2 * 1_135_256_096
    assert sum(get("torchinfo").count(r) for r in alexnet.rows) == 1_135_915_368


def test_show_convention_json(run):
    r = run("show", SPECS / "alexnet.yaml", "--convention", "torchinfo", "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["costing"]["compute"] == 1_135_915_368 and data["costing"]["label"] == "Mult-Adds"
    assert data["totals"]["macs"] == 1_135_256_096
    table = run("show", SPECS / "alexnet.yaml", "--convention", "torchinfo")
    assert "Mult-Adds (torchinfo), batch 1  1,135,915,368" in table.stdout
    plain = run("show", SPECS / "alexnet.yaml")
    assert "Mult-Adds" not in plain.stdout and "costing" not in run("show", SPECS / "alexnet.yaml", "--format", "json").stdout
    assert run("show", SPECS / "alexnet.yaml", "--convention", "flops", "--format", "csv").exit_code == 2


def test_batch_and_training(alexnet):
    one = costing(alexnet)
    b32 = costing(alexnet, "fvcore", 32)
    assert b32.compute == 32 * 1_135_256_096
    assert b32.activation_bytes == 32 * one.activation_bytes and b32.param_bytes == one.param_bytes
    sgd = costing(alexnet, training="sgd")
    adam = costing(alexnet, training="adam")
    params = 62_378_344 * 4
    assert (sgd.gradient_bytes, sgd.optimizer_bytes) == (params, params)
    assert (adam.gradient_bytes, adam.optimizer_bytes) == (params, 2 * params)
    assert adam.total_bytes - one.total_bytes == 3 * params
    assert any("Adam" in a for a in adam.assumptions)


def test_fit(run, alexnet):
    assert parse_size("8GiB") == 8 * 2**30 and parse_size("512MiB") == 512 * 2**20
    assert parse_size("2GB") == 2 * 10**9 and parse_size("1.5GiB") == 3 * 2**29
    batch, c = largest_batch(alexnet, 8 * 2**30, "adam")
    assert c.total_bytes <= 8 * 2**30 < costing(alexnet, batch=batch + 1, training="adam").total_bytes
    r = run("fit", SPECS / "alexnet.yaml", "--memory", "8GiB", "--training", "adam")
    assert r.exit_code == 0 and f"largest batch: {batch:,}" in r.stdout and "Adam" in r.stdout
    j = json.loads(run("fit", SPECS / "alexnet.yaml", "--memory", "8GiB", "--format", "json").stdout)
    assert j["batch"] == largest_batch(alexnet, 8 * 2**30)[0]
    small = run("fit", SPECS / "alexnet.yaml", "--memory", "100MiB")
    assert small.exit_code == 2 and "even batch 1 needs" in small.stderr
    bad = run("fit", SPECS / "alexnet.yaml", "--memory", "8 gigs")
    assert bad.exit_code == 2 and "cannot read the memory size '8 gigs'" in bad.stderr
    assert parse_size("8G") == parse_size("8GiB")  # as docker and ulimit read it; run --max-memory alike
    with pytest.raises(BudgetError):
        parse_size("8 gigs")


# --- sweep --------------------------------------------------------------------------------------

def test_sweep_alphago(run):
    r = run("sweep", SPECS / "alphago_policy.yaml", "--vary", "k=128,192,256,384")
    assert r.exit_code == 0, r.output
    for k, params in [(128, "1,777,641"), (192, "3,882,793"), (256, "6,798,953"), (384, "15,064,297")]:
        assert any(line.split("│")[1].strip() == str(k) and params in line for line in r.stdout.splitlines()
                   if "│" in line)
    data = json.loads(run("sweep", SPECS / "alphago_policy.yaml", "--vary", "k=128,192", "--format", "json").stdout)
    assert data[1]["k"] == 192 and data[1]["params"] == 3_882_793 and data[1]["macs"] == 1_400_726_208
    csv = run("sweep", SPECS / "alphago_policy.yaml", "--vary", "k=192", "--format", "csv", "--convention", "flops").stdout
    assert csv.splitlines()[0].startswith("k,params,flops,")
    assert csv.splitlines()[1].startswith("192,3882793,2801452416,")


def test_sweep_product_and_batch(run):
    data = json.loads(run("sweep", FIXTURES / "two_vars.yaml", "--vary", "k=8,16", "--vary", "f=1,3",
                          "--batch", 4, "--format", "json").stdout)
    assert [(d["k"], d["f"]) for d in data] == [(8, 1), (8, 3), (16, 1), (16, 3)]
    one = analyze(load_spec(FIXTURES / "two_vars.yaml", set_vars={"k": 16, "f": 3}))
    assert data[3]["params"] == one.totals.params and data[3]["macs"] == 4 * one.totals.macs


@pytest.mark.parametrize("args, message", [
    (["--vary", "n=1,2"], "declares no variable 'n'"),
    (["--vary", "k"], "--vary expects NAME=V1,V2"),
    (["--vary", "k=1", "--vary", "k=2"], "given twice"),
    (["--vary", "k=1,2", "--set", "k=3"], "both --set and --vary"),
])
def test_sweep_bad_input(run, args, message):
    r = run("sweep", SPECS / "alphago_policy.yaml", *args)
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.output


def test_sweep_has_a_receptive_field_column_and_refuses_too_much_work(run):
    """Issue 13 item 8 and issue 10 item 7."""
    import json

    from pathlib import Path

    spec = Path(__file__).parent / "fixtures" / "two_vars.yaml"
    r = run("sweep", spec, "--vary", "k=8,16", "--vary", "f=1,3", "--format", "json")
    assert r.exit_code == 0
    assert [row["receptive_field"] for row in json.loads(r.stdout)] == [[2, 2], [8, 8], [2, 2], [8, 8]]
    r = run("sweep", spec, "--vary", "k=8,16", "--max-work", "3")
    assert r.exit_code == 2 and "2 combinations x 5 layers" in r.stderr and "--max-work" in r.stderr
