"""`--convention` on show, compare and sweep: every tool's name, `all`, and the per-layer column following it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli import main

SPECS = Path(__file__).resolve().parents[2] / "specs"
R50 = str(SPECS / "resnet50.yaml")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})


def test_show_convention_all_table():
    r = run("show", R50, "--convention", "all")
    assert r.exit_code == 0, r.output
    out = r.stdout
    for name, total in (("macs", "4,089,184,256"), ("flops", "8,178,368,512"), ("torchinfo", "4,089,238,376"),
                        ("fvcore", "4,111,512,576"), ("ptflops", "4,121,925,096"), ("ptflops-aten", "4,089,185,256"),
                        ("thop", "4,133,745,591")):
        assert any(line.split("│")[1:3] == [f" {name:<12} ", f" {total} "] for line in out.splitlines()), name
    assert "2 x 11,113,984 batchnorm elements" in out
    assert "All start from the 4,089,184,256 MACs" in out and "+10,512,872" in out


def test_show_convention_all_json_and_markdown():
    data = json.loads(run("show", R50, "--convention", "all", "--format", "json").stdout)
    by = data["costing"]["by_convention"]
    assert by["fvcore"] == {"total": 4_111_512_576, "terms": {"macs": 4_089_184_256, "pooling": 100_352,
                                                              "batchnorm": 22_227_968, "layernorm": 0, "upsample": 0}}
    assert by["torchinfo"]["total"] == 4_089_238_376 and by["ptflops"]["total"] == 4_121_925_096
    assert data["costing"]["compute"] == 4_089_184_256  # the default convention
    assert "fvcore adds" in data["costing"]["why_they_differ"]
    md = run("show", R50, "--convention", "all", "--format", "markdown").stdout
    assert "| thop | 4,133,745,591 | 4,089,184,256 MACs + 4 x 11,113,984 batchnorm elements" in md


def test_single_convention_keeps_costing_compute():
    data = json.loads(run("show", R50, "--convention", "fvcore", "--format", "json").stdout)
    assert data["costing"]["compute"] == 4_111_512_576 and data["costing"]["convention"] == "fvcore"
    assert data["costing"]["by_convention"]["thop"]["total"] == 4_133_745_591


def test_per_layer_column_follows_the_convention():
    md = run("show", R50, "--convention", "fvcore", "--format", "markdown").stdout
    assert "| MACs (fvcore) |" in md
    assert "| 1 | bn1 | batchnorm | conv1 | 112x112x64 | 256 | 1,605,632 |" in md  # 2 x 112 x 112 x 64
    md = run("show", R50, "--convention", "torchinfo", "--format", "markdown").stdout
    assert "| 1 | bn1 | batchnorm | conv1 | 112x112x64 | 256 | 128 |" in md  # gamma and beta, once
    plain = run("show", R50, "--format", "markdown").stdout
    assert "| 1 | bn1 | batchnorm | conv1 | 112x112x64 | 256 | 0 |" in plain


def test_collapsed_column_sums_its_layers():
    md = run("show", R50, "--convention", "thop", "--depth", "1", "--format", "markdown").stdout
    lines = md.splitlines()
    column = next(line for line in lines if line.startswith("| #")).split(" | ").index("MACs (thop)")
    cells = [line.split(" | ") for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert len(cells) == 22  # conv1, bn1, relu, maxpool, 16 blocks, avgpool, fc
    assert sum(int(c[column].replace(",", "")) for c in cells) == 4_133_745_591


def test_compare_and_sweep_take_every_tool():
    r = run("compare", R50, str(SPECS / "resnet18.yaml"), "--convention", "ptflops", "--format", "json")
    rows = {row["name"]: row["compute"]["value"] for row in json.loads(r.stdout)}
    assert rows == {"ResNet-50": 4_121_925_096, "ResNet-18": 1_822_177_768}
    r = run("sweep", str(SPECS / "alphago_policy.yaml"), "--vary", "k=192", "--convention", "thop", "--format", "json")
    assert r.exit_code == 0, r.output
    assert "MACs (thop)" in run("sweep", str(SPECS / "alphago_policy.yaml"), "--vary", "k=192",
                                "--convention", "thop").stdout
    assert run("compare", R50, "--convention", "nope").exit_code == 2


# --- --convention all on compare and sweep; the HTML report's compute column -------------------------

R18 = str(SPECS / "resnet18.yaml")
ALPHAGO = str(SPECS / "alphago_policy.yaml")


def test_compare_convention_all_json_csv_markdown():
    rows = {row["name"]: row for row in json.loads(run("compare", R50, R18, "--convention", "all", "--batch", "2",
                                                       "--format", "json").stdout)}
    r18 = {name: entry["total"] for name, entry in rows["ResNet-18"]["by_convention"].items()}
    # the tool figures for ResNet-18, times the batch of 2
    assert r18["torchinfo"] == 2 * 1_814_083_944 and r18["fvcore"] == 2 * 1_819_065_856
    assert r18["ptflops"] == 2 * 1_822_177_768 and r18["flops"] == 2 * r18["macs"]
    r50 = rows["ResNet-50"]
    assert r50["by_convention"]["fvcore"]["terms"]["batchnorm"] == 2 * 22_227_968
    assert r50["compute"] == {"convention": "macs", "label": "MACs", "batch": 2, "value": 2 * 4_089_184_256}
    import csv as csvlib

    head, row = list(csvlib.reader(run("compare", R50, "--convention", "all", "--format", "csv").stdout.splitlines()))
    assert head[-7:] == ["compute_macs", "compute_flops", "compute_torchinfo", "compute_fvcore", "compute_ptflops",
                         "compute_ptflops-aten", "compute_thop"]
    assert row[head.index("compute_ptflops-aten")] == "4089185256"
    md = run("compare", R50, "--convention", "all", "--format", "markdown").stdout
    assert "| Params (trainable) | macs | flops | torchinfo | fvcore | ptflops | ptflops-aten | thop | Memory |" in md
    assert "| 4,089,184,256 | 8,178,368,512 | 4,089,238,376 | 4,111,512,576 | 4,121,925,096 | 4,089,185,256 |" in md
    table = run("compare", R50, "--convention", "all").stdout
    assert "ptflops-aten" in table and "4.12 G" in table  # ptflops, humanised


def test_compare_single_convention_has_no_by_convention():
    row = json.loads(run("compare", R50, "--convention", "fvcore", "--format", "json").stdout)[0]
    assert "by_convention" not in row and row["compute"]["value"] == 4_111_512_576


def test_sweep_convention_all_matches_show_at_each_value():
    rows = json.loads(run("sweep", ALPHAGO, "--vary", "k=128,192", "--convention", "all", "--format", "json").stdout)
    for row in rows:
        show = json.loads(run("show", ALPHAGO, "--set", f"k={row['k']}", "--convention", "all",
                              "--format", "json").stdout)["costing"]["by_convention"]
        assert {name: row[name] for name in show} == {name: entry["total"] for name, entry in show.items()}
        assert row["flops"] == 2 * row["macs"]
    assert "every convention" in run("sweep", ALPHAGO, "--vary", "k=128", "--convention", "all").stdout
    csv = run("sweep", ALPHAGO, "--vary", "k=128", "--convention", "all", "--format", "csv").stdout
    assert csv.splitlines()[0].startswith("k,params,macs,flops,torchinfo,fvcore,ptflops,ptflops-aten,thop,")
    one = json.loads(run("sweep", ALPHAGO, "--vary", "k=128", "--convention", "torchinfo", "--format", "json").stdout)
    assert one[0]["torchinfo"] == rows[0]["torchinfo"]


def test_options_name_every_convention():
    from archcalc.cli.options import CONVENTION_NAMES
    from archcalc.conventions import NAMES

    assert CONVENTION_NAMES == NAMES


def test_html_report_compute_column_follows_the_convention(tmp_path):
    import re

    from archcalc import analyze, load_spec
    from archcalc.output.html import report_html

    report = analyze(load_spec(R50))
    for depth in (None, 1):
        page = report_html(report, convention="thop", depth=depth)
        assert 'card-label">MACs (thop)<' in page and "4,133,745,591" in page
        cells = re.findall(r'<tr data-layer="[^"]*">(?:<td[^>]*>.*?</td>){5}<td data-v="(\d+)"', page)
        assert len(cells) == (len(report.rows) if depth is None else 22)
        assert sum(map(int, cells)) == 4_133_745_591
    page = report_html(report, convention="torchinfo")
    assert re.search(r'<tr data-layer="bn1">(?:<td[^>]*>.*?</td>){5}<td data-v="128"', page)  # gamma and beta
