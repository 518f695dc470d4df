"""Shared test options: `pytest --update-golden` rewrites golden files (review the diff before committing)."""

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/* from the current output")


@pytest.fixture
def golden(request):
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if not update:
                pytest.fail(f"golden file {name} did not exist; written now, review and commit it")
        assert text == path.read_text(), f"output differs from tests/golden/{name}; run pytest --update-golden and review the diff"

    return check
