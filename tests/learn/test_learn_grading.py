"""Issue 13 items 1-4: rounding on design questions, a right design that is not the key's, per-part verdicts,
and working aimed at the mistake."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from archcalc.learn.exercises import grade


def _quiz(tmp_path: Path, *exercises: dict) -> Path:
    path = tmp_path / "quiz.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "exercises": list(exercises)}))
    return path


STEM = {"id": "stem", "input": [224, 224, 3], "target": [112, 112, 64], "rounding": "floor",
        "answer": {"kernel": 7, "stride": 2, "padding": 3}}


def test_resnet_stem_with_floor_rounding_is_right(tmp_path):
    r = grade(_quiz(tmp_path, STEM)).results[0]
    assert r.ok is True and r.design_fits
    assert "(224 + 3 + 3 - 7) / 2 + 1 = 112.5, rounded floor (the exercise's rounding): 112" in r.solution
    assert "your design fits" in r.solution


def test_resnet_stem_without_rounding_is_wrong_and_says_why(tmp_path):
    r = grade(_quiz(tmp_path, {**STEM, "rounding": "strict"})).results[0]
    assert r.ok is False
    assert "= 112.5: not whole, so it does not fit" in r.solution
    assert "..." not in r.solution


def test_given_fixes_the_kernel(tmp_path):
    ex = {"id": "g", "input": [224, 224, 3], "target": [112, 112, 64], "given": {"kernel": 7}, "rounding": "floor",
          "answer": {"stride": 2, "padding": 3}}
    r = grade(_quiz(tmp_path, ex)).results[0]
    assert r.ok is True
    assert r.expected["kernel"] == 7


def test_per_part_json(run, tmp_path):
    ex = {"id": "pm", "input": [32, 32, 3], "layers": [{"type": "conv", "filters": 16, "kernel": 3, "padding": 1}],
          "answer": {"params": 432, "macs": 442368}}
    r = run("check", _quiz(tmp_path, ex), "--format", "json")
    assert r.exit_code == 1
    item = json.loads(r.stdout)["results"][0]
    assert item["ok"] is False
    assert item["parts"] == {"params": {"ok": False, "given": 432, "expected": 448},  # (3*3*3 + 1) * 16
                             "macs": {"ok": True, "given": 442368, "expected": 442368}}  # 32*32*16*27


def test_forgotten_relu_shows_the_relu_step_and_the_weighted_sum(tmp_path):
    ex = {"id": "r", "input": [3, 3, 1], "values": [[1, -2, 0], [3, -1, 2], [-4, 1, -3]],
          "layers": [{"type": "conv", "filters": 1, "kernel": 2, "bias": False, "weights": [[1, 0], [0, 1]]},
                     {"type": "activation", "function": "relu"}],
          "answer": {"output": [[0, 0], [4, -4]]}}
    r = grade(_quiz(tmp_path, ex)).results[0]
    assert r.ok is False
    assert "before [[0, 0], [4, -4]] -> after [[0, 0], [4, 0]]" in r.solution
    assert "weighted sum (-1)*1 + 2*0 + 1*0 + (-3)*1 = -4" in r.solution
    assert "relu(-4) = 0" in r.solution


def test_rf_recurrence_and_both_endings(tmp_path):
    ex = {"id": "rf", "input": [31, 31, 1], "answer": {"receptive_field": 7},
          "layers": [{"type": "conv", "filters": 4, "kernel": 3, "stride": 2, "padding": 1},
                     {"type": "conv", "filters": 4, "kernel": 3, "padding": 1}, {"type": "maxpool", "kernel": 2}]}
    r = grade(_quiz(tmp_path, ex)).results[0]
    assert r.ok is False and r.expected["receptive_field"] == [9, 9]
    assert "conv2: 3 + (3 - 1)*2 = 7, jump 2*1 = 2" in r.solution
    assert "at the last conv (conv2): 7x7; at the last spatial layer (maxpool1): 9x9" in r.solution
    assert "output size per axis" not in r.solution  # not the shapes of every layer


def test_missing_channel_axis_is_named(tmp_path):
    ex = {"id": "s", "input": [9, 9, 1], "layers": [{"type": "conv", "filters": 1, "kernel": 3}],
          "answer": {"shape": [7, 7]}}
    r = grade(_quiz(tmp_path, ex)).results[0]
    assert "your shape 7x7 has no channel axis: the output is 7x7x1" in r.solution
