"""The README stays true: its strategies example runs, its numbers are the ones archcalc computes."""

from pathlib import Path

import archcalc

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_strategies_example_in_the_readme_passes(tmp_path):
    code = README.split("# test_my_conv.py\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md:test_my_conv.py", "exec"), namespace)
    namespace["test_my_conv_output_size"]()


def test_the_specs_table_matches_the_specs():
    for line in README.split("## Specs shipped", 1)[1].split("\n\n", 2)[1].splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        name, params, macs = cells[0].strip("`"), cells[2], cells[3]
        report = archcalc.analyze(archcalc.load_spec(ROOT / "specs" / name))
        assert params.split(" ")[0] == f"{report.totals.trainable_params:,}", name
        assert macs == f"{report.totals.macs:,}", name


def test_ci_runs_the_readme_test_command():
    assert "pip install '.[test]' && python -m pytest" in README
    assert "pip install -q '.[test]' && python -m pytest" in (ROOT / ".ci" / "run").read_text()
