"""archcalc check: grading, the answer key, the JSON shape, and invalid files."""

import json

import pytest

from archcalc.learn.exercises import grade
from tests.learn.conftest import EXERCISES, FIXTURES


def test_shipped_exercises_are_all_right(run):
    r = run("check", EXERCISES / "cnn_basics.yaml")
    assert r.exit_code == 0, r.output
    outcome = grade(EXERCISES / "cnn_basics.yaml")
    assert outcome.all_ok and len(outcome.results) >= 40
    assert f"score: {len(outcome.results)}/{len(outcome.results)}" in r.stdout


def test_notes_numbers_in_the_key():
    key = {r.id: r.expected for r in grade(EXERCISES / "cnn_basics.yaml", key_only=True).results}
    assert key["size-11-s1"] == {"shape": [9, 9, 1]}
    assert key["size-11-s2"] == {"shape": [5, 5, 1]}
    assert key["size-7-s3"] == {"fits": False}
    assert key["oh-28x32-floor"] == {"shape": [14, 16, 1]}
    assert key["weighted-sum-4x4"] == {"output": [[59]]}
    assert key["alexnet-conv1"]["params"] == 34944
    assert key["alexnet-pool1"] == {"shape": [27, 27, 96], "params": 0}
    assert key["same-11-f6-s4"]["shape"] == [3, 3, 1] and key["valid-11-f6-s4"]["shape"] == [2, 2, 1]
    assert key["cifar-total"]["params"] == 1060138
    assert key["design-7-to-5"] == {"kernel": 3, "stride": 1, "padding": 0, "filters": 1}


def test_wrong_answers_exit_1_with_working(run):
    r = run("check", EXERCISES / "cnn_basics_wrong.yaml")
    assert r.exit_code == 1
    out = r.stdout
    assert "WRONG" in out and "score: 2/7" in out
    assert "size-11-s2 is wrong. Working:" in out and "(11 - 3) / 2 + 1 = 5" in out
    assert "(11*11*3 + 1) * 96 = 34,944" in out
    assert "= 59" in out and "you gave 57, the net gives 59" in out
    assert "does not fit (2.33 x 2.33); PyTorch/Keras give 2x2x1" in out
    assert "fits True" not in out and "does not fit" in out


def test_json_keys_exactly(run):
    r = run("check", EXERCISES / "cnn_basics_wrong.yaml", "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert set(data) == {"results", "score"}
    assert data["score"] == {"correct": 2, "total": 7}
    for item in data["results"]:
        assert set(item) == {"id", "ok", "given", "expected", "parts", "solution"}
        assert isinstance(item["ok"], bool)
    by_id = {item["id"]: item for item in data["results"]}
    assert by_id["size-11-s2"] == {**by_id["size-11-s2"], "ok": False, "given": {"shape": "4x4x1"},
                                   "expected": {"shape": [5, 5, 1]}}
    assert by_id["weighted-sum-4x4"]["given"] == {"output": [[57]]}
    assert by_id["weighted-sum-4x4"]["expected"] == {"output": [[59]]}
    assert by_id["size-7-s3"]["expected"] == {"fits": False}
    assert by_id["design-7-to-5-other"]["ok"] is True


def test_key_does_not_grade(run):
    r = run("check", EXERCISES / "cnn_basics_wrong.yaml", "--key")
    assert r.exit_code == 0
    assert "answer key" in r.stdout and "WRONG" not in r.stdout
    j = json.loads(run("check", EXERCISES / "cnn_basics_wrong.yaml", "--key", "--format", "json").stdout)
    assert [k["id"] for k in j["key"]][:2] == ["size-11-s1", "size-11-s2"]
    assert j["key"][1]["expected"] == {"shape": [5, 5, 1]}


def test_the_notes_weighted_sum_is_59(tmp_path):
    pytest.importorskip("numpy")
    path = tmp_path / "q.yaml"
    path.write_text("""
exercises:
  - id: q2
    question: "Weighted sum of the 4x4 sample and filter"
    input: [4, 4, 1]
    values: [[1, 5, 4, 3], [8, 4, 1, 4], [1, 2, 3, 3], [6, 5, 3, 1]]
    layers: [{type: conv, filters: 1, kernel: 4, weights: [[1, 1, 1, 1], [-1, -1, -1, -1], [2, 2, 2, 2], [3, 3, 3, 3]], bias: false}]
    answer: {output: [[59]]}
""")
    (result,) = grade(path).results
    assert result.ok and result.expected == {"output": [[59]]}


BAD = {
    "not a mapping": ("- 1\n- 2\n", "an exercise file is a mapping with an `exercises:` list"),
    "no id": ("exercises:\n  - {input: [5, 5, 1], layers: [{type: flatten}]}\n", "exercise 1 needs an id"),
    "duplicate id": ("exercises:\n  - {id: a, input: [5, 5, 1], layers: [{type: flatten}]}\n"
                     "  - {id: a, input: [5, 5, 1], layers: [{type: flatten}]}\n", "exercise a: the id is used twice"),
    "two kinds": ("exercises:\n  - {id: q1, input: [5, 5, 1], layers: [{type: flatten}], target: [1]}\n",
                  "exercise q1: give exactly one of layers:"),
    "shape of wrong kind": ("exercises:\n  - {id: q3, input: [5, 5, 1], layers: [{type: flatten}], answer: {shape: true}}\n",
                            "exercise q3: answer shape must be a shape like [5, 5, 1]"),
    "params of wrong kind": ("exercises:\n  - {id: q4, input: [5, 5, 1], layers: [{type: flatten}], answer: {params: '10k'}}\n",
                             "exercise q4: answer params must be a whole number"),
    "fits of wrong kind": ("exercises:\n  - {id: q5, input: [5, 5, 1], layers: [{type: flatten}], answer: {fits: 'no'}}\n",
                           "exercise q5: answer fits must be true or false"),
    "unknown answer key": ("exercises:\n  - {id: q6, input: [5, 5, 1], layers: [{type: flatten}], answer: {size: 3}}\n",
                           "exercise q6: answer key 'size' is not one archcalc grades"),
    "target answer key": ("exercises:\n  - {id: q7, input: [7, 7, 3], target: [5, 5, 1], answer: {shape: [5, 5, 1]}}\n",
                          "exercise q7: answer key 'shape' is not one archcalc grades; a target exercise takes kernel"),
    "output without values": ("exercises:\n  - {id: q8, input: [2, 2, 1], layers: [{type: flatten}], answer: {output: [1, 2]}}\n",
                              "exercise q8: an output answer needs the concrete input under values:"),
    "bad layer": ("exercises:\n  - {id: q9, input: [5, 5, 1], layers: [{type: conv, kernel: 3}], answer: {params: 1}}\n",
                  "exercise q9:"),
    "missing weights": ("exercises:\n  - {id: q10, input: [2, 2, 1], values: [[1, 2], [3, 4]], "
                        "layers: [{type: conv, filters: 1, kernel: 2}], answer: {output: [[1]]}}\n",
                        "exercise q10: layer conv1 needs weights:"),
    "wrong weights shape": ("exercises:\n  - {id: q11, input: [2, 2, 1], values: [[1, 2], [3, 4]], "
                            "layers: [{type: conv, filters: 2, kernel: 2, weights: [[1, 1], [1, 1]]}], answer: {output: [[1]]}}\n",
                            "exercise q11: layer conv1: weights have shape [2, 2], expected [2, 2, 1, 2] (HWIO)"),
    "missing spec": ("exercises:\n  - {id: q12, spec: nowhere.yaml, answer: {params: 1}}\n", "exercise q12:"),
    "unknown key": ("exercises:\n  - {id: q13, input: [5, 5, 1], layers: [{type: flatten}], anwser: {params: 1}}\n",
                    "exercise q13: unknown key anwser"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_invalid_files_exit_2_naming_the_exercise(run, tmp_path, name):
    text, message = BAD[name]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    r = run("check", path)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output


def test_missing_file_exit_2(run, tmp_path):
    r = run("check", tmp_path / "nope.yaml")
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_unanswered_is_not_ok(tmp_path):
    path = tmp_path / "open.yaml"
    path.write_text("exercises:\n  - {id: q1, input: [11, 11, 1], layers: [{type: conv, filters: 1, kernel: 3, stride: 2}]}\n")
    (result,) = grade(path).results
    assert result.ok is False and result.given is None
    assert result.expected["shape"] == [5, 5, 1] and result.expected["receptive_field"] == [3, 3]


def test_output_answers_run_through_the_engine_with_batchnorm(tmp_path):
    from click.testing import CliRunner

    from archcalc.cli import main

    path = tmp_path / "bn.yaml"
    path.write_text("exercises:\n  - id: bn\n    input: [2, 2, 1]\n    values: [[1, 2], [3, 4]]\n    layers:\n"
                    "      - {type: conv, filters: 1, kernel: 1, bias: false, weights: [[1]]}\n"
                    "      - {type: batchnorm, eps: 1.0e-12, gamma: [2], beta: [1]}\n"
                    "    tolerance: 1.0e-9\n    answer: {output: [[3, 5], [7, 9]]}\n")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0, result.output
