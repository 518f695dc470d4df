"""The HTML report and compare page: self-contained, the exact totals, one table row per (collapsed) layer."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import archcalc
from archcalc.analysis.collapse import collapse
from archcalc.learn.compare import compare
from archcalc.output.html import compare_html, report_html

from .conftest import SPECS, report_of


class Page(HTMLParser):
    """Collects what a self-contained page must not have (external references) and the table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.rows: list[str] = []
        self.totals: dict[str, str] = {}
        self.ids: list[str] = []
        self._card: str | None = None
        self._in_tbody = False
        self._value = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            value = a.get(key)
            if value is not None and not value.startswith(("data:", "#")):
                self.external.append(f"{tag} {key}={value}")
        if tag == "link":
            self.external.append("link")
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "tbody":
            self._in_tbody = True
        if tag == "tr" and self._in_tbody:
            self.rows.append(a.get("data-layer", ""))
        if tag == "div" and "data-total" in a:
            self._card = a["data-total"]
            self.totals[self._card] = ""
        self._value = tag == "div" and a.get("class") == "card-value" or (self._value and tag != "small")

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False
        if tag == "section":
            self._card = None
        if tag == "div":
            self._value = False

    def handle_data(self, data):
        if self._card is not None and self._value:
            self.totals[self._card] += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_report_of_every_spec_is_self_contained(spec):
    report = report_of(spec)
    text = report_html(report)
    page = parse(text)
    assert page.external == []
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)  # the SVG namespace is a name, not a fetch
    assert page.rows == [r.name for r in report.rows]
    assert len(page.ids) == len(set(page.ids))
    assert f"{report.totals.params:,}" in page.totals["params"]


@pytest.mark.parametrize("depth", [1, 2])
def test_report_at_depth_has_one_row_per_block(depth):
    report = report_of(SPECS[[p.stem for p in SPECS].index("resnet152")])
    page = parse(report_html(report, depth=depth))
    assert page.rows == [r.name for r in collapse(report, depth).rows]
    # the same totals at every depth: 60,192,808 trainable + 151,424 batchnorm moving means and variances
    assert (page.totals["params"], page.totals["trainable_params"]) == ("60,344,232", "60,192,808")


def test_alexnet_totals_and_per_layer_numbers():
    report = archcalc.analyze("specs/alexnet.yaml")
    text = report_html(report)
    totals = parse(text).totals
    assert totals["params"] == "62,378,344"
    assert totals["compute"] == "1,135,256,096"  # the notes' 1.1 G MACs, conv and dense only
    assert totals["non_trainable_params"] == "0"
    # conv1: 11*11*3*96 + 96 = 34,944 params; 55*55*96 * 11*11*3 = 105,415,200 MACs
    row = re.search(r'<tr data-layer="conv1">(.*?)</tr>', text).group(1)
    assert '<td data-v="34944" class="num">34,944</td>' in row
    assert '<td data-v="105415200" class="num">105,415,200</td>' in row
    flops = parse(report_html(report, convention="flops")).totals["compute"]
    assert flops == "2,270,512,192"  # 2 x MACs


def test_sizes_stay_reasonable_for_the_largest_net():
    report = report_of(SPECS[[p.stem for p in SPECS].index("resnet152")])
    assert len(report_html(report).encode()) < 1_500_000  # 514 layers: about 1.0 MB
    assert len(report_html(report, depth=1).encode()) < 200_000  # 60 blocks: about 120 kB


def test_user_strings_are_escaped_in_the_page():
    spec = {"name": "<script>alert(1)</script>", "input": [8, 8, 1], "source": "a & b <i>",
            "layers": [{"type": "conv", "name": "c<1>", "filters": 2, "kernel": 3}]}
    text = report_html(archcalc.analyze(spec))
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a &amp; b &lt;i&gt;" in text and 'data-layer="c&lt;1&gt;"' in text


def test_maps_are_embedded_as_png():
    report = archcalc.analyze("specs/mnist_deep.yaml")
    png = b"\x89PNG\r\n\x1a\nfake"
    text = report_html(report, maps={"conv1": png})
    assert 'src="data:image/png;base64,iVBORw0KGgpmYWtl"' in text


def test_compare_page_has_every_net_and_two_charts():
    rows = compare([str(p) for p in SPECS])
    text = compare_html(rows)
    page = parse(text)
    assert page.external == []
    assert sorted(page.rows) == sorted(r.name for r in rows)
    assert text.count('<figure class="chart">') == 2
    assert f"{60_192_808:,}" in text and f"{11_513_626_624:,}" in text  # ResNet-152's params and MACs
