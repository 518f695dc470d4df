"""Issue 13 items 5 and 14: help texts, compare's --set and --training, show on an exercise file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from archcalc.cli import main
from archcalc.learn.exercises import NET_KEYS, TARGET_KEYS

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, width=100):
    return CliRunner().invoke(main, [str(a) for a in args], terminal_width=width)


def test_top_level_help_never_truncates_descriptions():
    out = _run("--help").stdout
    commands = out.split("Commands:")[1]
    assert not any(line.rstrip().endswith("...") for line in commands.splitlines())
    flat = " ".join(commands.split())
    assert "that reach a receptive field (--input bounds how many downsamplings fit)" in flat


def test_check_help_describes_the_format_and_every_answer_key():
    out = _run("check", "--help").stdout
    for key in NET_KEYS + TARGET_KEYS:
        assert key in out, key
    for field in ("exercises:", "input + layers", "spec", "input + target", "given:", "rounding", "--spec-root"):
        assert field in out, field


def test_compare_takes_set_and_training():
    fixture = ROOT / "tests" / "learn" / "fixtures" / "two_vars.yaml"
    small = json.loads(_run("compare", fixture, "--set", "k=8", "--format", "json").stdout)[0]
    assert small["params"] == 898  # k=8, f=3: (27+1)*8 + (72+1)*8 + 0 + (8+1)*10 = 224 + 584 + 90
    plain = json.loads(_run("compare", ROOT / "specs" / "alexnet.yaml", "--format", "json").stdout)[0]
    adam = json.loads(_run("compare", ROOT / "specs" / "alexnet.yaml", "--training", "adam", "--format",
                           "json").stdout)[0]
    # adam keeps gradients + two moments: three more float32 copies of the 62,378,344 parameters at least
    assert adam["memory"]["total_bytes"] >= plain["memory"]["total_bytes"] + 3 * 4 * 62_378_344


def test_show_on_an_exercise_file_points_at_check():
    r = _run("show", ROOT / "exercises" / "cnn_basics.yaml")
    assert r.exit_code == 2
    assert "this is an exercise file, not a spec: grade it with archcalc check" in r.stderr
