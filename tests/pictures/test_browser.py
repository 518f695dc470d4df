"""The HTML report in a real browser (headless Chromium through Playwright); skipped when either is missing.

Run just these with `pytest -m browser`.  Chromium comes from the system (`apt-get install chromium`), never
from `playwright install`; set ARCHCALC_CHROMIUM to use another binary.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

import archcalc
from archcalc.output.html import compare_html, report_html

from .conftest import SPECS, report_of

pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("ARCHCALC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set ARCHCALC_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, tmp_path):
    pages = []

    def open_(html: str, name: str = "report.html"):
        path = tmp_path / name
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: errors.append(f"request {r.url}") if not r.url.startswith(("file:", "data:")) else None)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        pages.append(page)
        return page, errors

    yield open_
    for page in pages:
        page.close()


def visible_layers(page) -> list[str]:
    return page.eval_on_selector_all("#layers tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.layer)")


def not_blank(png: bytes) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50
        ink = sum(n for n, c in colours if min(c) < 200)  # text, lines, bars: not the light page and panels
        assert ink > 0.02 * img.width * img.height


def test_alexnet_report_loads_sorts_filters_and_links(open_page):
    page, errors = open_page(report_html(archcalc.analyze("specs/alexnet.yaml")))
    assert errors == []
    assert page.inner_text('[data-total="params"] .card-value').startswith("62,378,344")
    assert page.inner_text('[data-total="compute"] .card-value').startswith("1,135,256,096")

    names = ["conv1", "pool1", "norm1", "conv2", "pool2", "norm2", "conv3", "conv4", "conv5", "pool3",
             "fc6", "drop6", "fc7", "drop7", "fc8"]
    assert visible_layers(page) == names
    params = page.locator("#layers th", has_text="Params")
    params.click()  # ascending: the weightless layers first (stable), then conv1 (34,944) ... fc6 (37,752,832)
    assert visible_layers(page)[-3:] == ["fc8", "fc7", "fc6"]
    assert visible_layers(page)[:6] == ["pool1", "norm1", "pool2", "norm2", "pool3", "drop6"]
    params.click()  # descending
    assert visible_layers(page)[:4] == ["fc6", "fc7", "fc8", "conv4"]
    page.locator("#layers th", has_text="#").click()
    assert visible_layers(page) == names

    page.fill("input.filter", "conv")
    assert visible_layers(page) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    page.fill("input.filter", "13x13x384")
    assert visible_layers(page) == ["conv3", "conv4"]
    page.fill("input.filter", "")
    assert len(visible_layers(page)) == 15

    page.hover('.diagram g.node[data-layer="conv3"]')
    assert page.get_attribute('#layers tr[data-layer="conv3"]', "class") == "hl"
    assert page.eval_on_selector_all(".hl", "els => els.map(e => e.dataset.layer)") == ["conv3"] * 6  # node, row, 3 bars, 1 dot
    page.hover('#layers tr[data-layer="fc7"]')
    assert "hl" in page.get_attribute('.diagram g.node[data-layer="fc7"]', "class")
    assert page.get_attribute('#layers tr[data-layer="conv3"]', "class") in ("", None)
    not_blank(page.screenshot())
    assert errors == []


@pytest.mark.parametrize("spec", ["googlenet", "resnet50", "resnet152"])
def test_big_reports_load_without_errors_and_link_far_rows(open_page, spec):
    report = report_of(SPECS[[p.stem for p in SPECS].index(spec)])
    page, errors = open_page(report_html(report))
    last = report.rows[-1].name
    page.hover(f'#layers tr[data-layer="{last}"]')  # far down the table: the diagram scrolls to the node
    box = page.locator(".diagram-scroll").bounding_box()
    node = page.locator(f'.diagram g.node[data-layer="{last}"]').bounding_box()
    assert box["y"] <= node["y"] + node["height"] / 2 <= box["y"] + box["height"]
    shot = page.screenshot()
    if os.environ.get("ARCHCALC_SCREENSHOTS"):
        (Path(os.environ["ARCHCALC_SCREENSHOTS"]) / f"hover_{spec}.png").write_bytes(shot)
    not_blank(shot)
    assert errors == []


def test_compare_page_sorts(open_page):
    from archcalc.learn.compare import compare

    rows = compare([str(p) for p in SPECS])
    page, errors = open_page(compare_html(rows), "zoo.html")
    page.locator("#nets th", has_text="Params").click()
    order = page.eval_on_selector_all("#nets tbody tr", "rows => rows.map(r => r.dataset.layer)")
    assert order == [r.name for r in sorted(rows, key=lambda r: r.trainable_params)]
    assert order[-1] == "VGG16"  # 138,357,544 trainable parameters, the largest of the zoo
    not_blank(page.screenshot())
    assert errors == []
