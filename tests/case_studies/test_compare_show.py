"""archcalc compare (library and CLI), show --depth (totals invariant) and show --expand (round trip)."""

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from archcalc import analyze, load_spec
from archcalc.cli import main
from archcalc.analysis.collapse import collapse, group_name
from archcalc.learn.compare import compare, final_receptive_field, sort_summaries
from archcalc.output.text import render_compare

SPECS = Path(__file__).resolve().parents[2] / "specs"
SEED_TABLE = ["lenet5", "alexnet", "zfnet", "googlenet", "vgg16", "resnet152"]  # seed 003's summary table


def run(*args):
    result = CliRunner().invoke(main, list(args), terminal_width=120)
    return result


@pytest.fixture(scope="module")
def seed_rows():
    return compare([SPECS / f"{n}.yaml" for n in SEED_TABLE], sort=None)


def test_compare_reproduces_the_seed_table(seed_rows):
    by_name = {r.name: r for r in seed_rows}
    assert [(r.name, r.year, r.place, r.top5_error) for r in sort_summaries(seed_rows, "year")] == [
        ("LeNet-5", 1998, None, None), ("AlexNet", 2012, "1st", "15.3%"), ("ZFNet", 2013, "1st", "14.8%"),
        ("GoogLeNet", 2014, "1st", "6.67%"), ("VGG16", 2014, "2nd", "7.3%"), ("ResNet-152", 2015, "1st", "3.6%")]
    # the seed's parameter column: 60 thousand, 60 million, 4 million (GoogLeNet's rounded claim), 138 million
    assert round(by_name["LeNet-5"].trainable_params, -4) == 60_000
    assert round(by_name["AlexNet"].trainable_params, -7) == 60_000_000
    assert round(by_name["VGG16"].trainable_params, -6) == 138_000_000
    assert by_name["GoogLeNet"].trainable_params == 6_998_552
    assert by_name["ResNet-152"].trainable_params == 60_192_808
    assert [by_name[n].depth for n in ("AlexNet", "GoogLeNet", "VGG16", "ResNet-152")] == [8, 22, 16, 152]


def test_compare_sorting(seed_rows):
    assert [r.name for r in sort_summaries(seed_rows, "params")] == [
        "LeNet-5", "GoogLeNet", "ResNet-152", "AlexNet", "ZFNet", "VGG16"]
    macs = [r.macs for r in sort_summaries(seed_rows, "macs")]
    assert macs == sorted(macs)
    with pytest.raises(ValueError):
        sort_summaries(seed_rows, "depth")


def test_receptive_field_where_the_spatial_layers_end(seed_rows):
    by_name = {r.name: r for r in seed_rows}
    assert (by_name["VGG16"].rf_layer, by_name["VGG16"].receptive_field) == ("block5/pool", (212, 212))
    assert by_name["AlexNet"].receptive_field == (195, 195)
    text = analyze(load_spec(SPECS / "textcnn_kim.yaml"))
    assert final_receptive_field(text) == ("width5/conv", (5,))  # widest of the three branches


def test_compare_cli_formats():
    specs = [str(SPECS / f"{n}.yaml") for n in ("vgg16", "resnet50", "googlenet")]
    out = run("compare", *specs, "--sort", "params", "--format", "json")
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert [d["name"] for d in data] == ["GoogLeNet", "ResNet-50", "VGG16"]
    assert data[1]["trainable_params"] == 25_557_032 and data[1]["depth"] == 50 and data[1]["weighted_layers"] == 54
    rows = list(csv.DictReader(io.StringIO(run("compare", *specs, "--format", "csv").output)))
    assert [r["name"] for r in rows] == ["VGG16", "GoogLeNet", "ResNet-50"]  # by year, ties in the given order
    assert rows[0]["params"] == "138357544" and rows[0]["macs"] == "15470264320"
    md = run("compare", *specs, "--format", "markdown").output
    assert "| VGG16 | 2014 | 16 | 138,357,544 | 15,470,264,320 |" in md
    table = run("compare", *specs, "--sort", "macs").output
    assert table.index("GoogLeNet") < table.index("ResNet-50") < table.index("VGG16")
    assert "138,357,544" in table and "15.5 G" in table and "7.3%" in table


def test_compare_all_specs_and_errors(tmp_path):
    out = run("compare", *sorted(str(p) for p in SPECS.glob("*.yaml")))
    assert out.exit_code == 0 and "ResNet-152" in out.output and "TextCNN" in out.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [8, 8, 3]\nlayers: [{block: nope}]\n")
    out = run("compare", str(bad))
    assert out.exit_code == 2 and "unknown block 'nope'" in out.output


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "vgg16", "textcnn_kim"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_keeps_totals(name, depth):
    report = analyze(load_spec(SPECS / f"{name}.yaml"))
    collapsed = collapse(report, depth)
    assert collapsed.totals == report.totals
    assert sum(r.params for r in collapsed.rows) == report.totals.params
    assert sum(r.macs for r in collapsed.rows) == report.totals.macs
    assert sum(r.trainable_params for r in collapsed.rows) == report.totals.trainable_params
    assert collapsed.rows[-1].output_shape == report.rows[-1].output_shape


def test_depth_collapses_resnet50_to_block_rows():
    report = analyze(load_spec(SPECS / "resnet50.yaml"))
    rows = collapse(report, 1).rows
    assert len(report.rows) == 174 and len(rows) == 22
    res3 = [r for r in rows if r.name == "res3.1"][0]
    assert (res3.type, res3.inputs, res3.output_shape, res3.params) == ("12 layers", ("res2.3",), (28, 28, 512), 381_952)
    assert rows[-2].name == "avgpool" and rows[-2].inputs == ("res5.3",)
    assert group_name("a/b/c", 2) == "a/b" and group_name("a", 1) == "a"


def test_show_depth_cli_totals_identical():
    spec = str(SPECS / "resnet152.yaml")
    full = run("show", spec, "--format", "markdown").output
    short = run("show", spec, "--format", "markdown", "--depth", "1").output
    tail = lambda text: text[text.index("- **Total params**"):]
    assert tail(full) == tail(short)
    assert full.count("\n") > 500 and short.count("\n") < 90
    assert "| res4.36 | 10 layers |" in short
    assert run("show", spec, "--depth", "0").exit_code == 2


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "vgg16", "textcnn_kim", "alphago_policy"])
def test_expand_round_trips(name, tmp_path):
    spec = SPECS / f"{name}.yaml"
    out = run("show", str(spec), "--expand")
    assert out.exit_code == 0
    data = yaml.safe_load(out.output)
    assert "blocks" not in data and all("block" not in l and "repeat" not in l for l in data["layers"])
    assert all("name" in l and "inputs" in l for l in data["layers"])
    assert analyze(load_spec(data)).totals == analyze(load_spec(spec)).totals
    as_json = json.loads(run("show", str(spec), "--expand", "--format", "json").output)
    assert as_json["layers"] == data["layers"]


def test_expand_prints_one_line_per_layer():
    out = run("show", str(SPECS / "googlenet.yaml"), "--expand").output
    assert "  - {name: inception_3a/3x3, type: conv, filters: 128, kernel: 3, padding: 1, activation: relu, " \
           "inputs: [inception_3a/3x3_reduce]}" in out
    assert "input: [224, 224, 3]" in out


def test_render_compare_rejects_unknown_format(seed_rows):
    with pytest.raises(ValueError):
        render_compare(seed_rows, "html")
