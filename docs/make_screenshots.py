"""Regenerate the pictures in docs/: report screenshots (headless Chromium) and a few drawings.

    python docs/make_screenshots.py            # needs playwright, Chromium (apt-get install chromium), Pillow, cairosvg

Screenshots are quantised to 256 colours to keep the repository small.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archcalc  # noqa: E402
from archcalc.output.html import report_html  # noqa: E402
from archcalc.output.svg import draw_svg  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# spec -> (layer to centre the diagram on, layer to hover)
REPORTS = {"alexnet": ("conv2", "conv2"), "googlenet": ("inception_3a/3x3", "inception_3a/3x3"),
           "resnet50": ("res2.1/relu2", "res2.1/downsample")}
CENTRE = """name => {
  const box = document.querySelector('.diagram-scroll');
  const node = [...box.querySelectorAll('g.node')].find(n => n.dataset.layer === name);
  const r = node.getBoundingClientRect(), b = box.getBoundingClientRect();
  box.scrollTop += (r.top + r.bottom) / 2 - (b.top + b.bottom) / 2;
  box.scrollLeft += (r.left + r.right) / 2 - (b.left + b.right) / 2;
}"""
DRAWINGS = [("alexnet", {"style": "blocks"}), ("googlenet", {}), ("resnet50", {"depth": 1}), ("lenet5", {"style": "blocks"})]


def small_png(png: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        out = io.BytesIO()
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
        return out.getvalue()


def main() -> None:
    from playwright.sync_api import sync_playwright

    docs = ROOT / "docs"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        for spec, (centre, hover) in REPORTS.items():
            html = Path(tmp) / f"{spec}.html"
            html.write_text(report_html(archcalc.analyze(str(ROOT / "specs" / f"{spec}.yaml"))), encoding="utf-8")
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(html.as_uri())
            page.evaluate(CENTRE, centre)
            page.hover(f'.diagram g.node[data-layer="{hover}"]')
            (docs / f"report_{spec}.png").write_bytes(small_png(page.screenshot()))
            page.close()
        browser.close()
    for spec, kwargs in DRAWINGS:
        name = f"draw_{spec}_{kwargs.get('style', 'graph')}.svg"
        (docs / name).write_text(draw_svg(archcalc.analyze(str(ROOT / "specs" / f"{spec}.yaml")), **kwargs), encoding="utf-8")
    for path in sorted(docs.glob("*.*")):
        print(f"{path.name:32} {path.stat().st_size:>9,} bytes")


if __name__ == "__main__":
    main()
