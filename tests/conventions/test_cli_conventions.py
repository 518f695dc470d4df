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
