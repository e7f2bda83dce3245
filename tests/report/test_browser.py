"""The HTML report opened in a real browser (headless Chromium): its numbers are on the page, both charts are drawn,
and the page fits a 1280-pixel window (a wide table scrolls inside the page; before, its last column was cut off)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.report.conftest import KnownStore, run_report
from tests.report.test_report import expected

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on PATH (`apt-get install chromium`): the page is only parsed, in test_report"
)

# Run by the browser once the page has loaded; what it measures goes into the DOM that --dump-dom prints.
MEASURE = """<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("figure svg")].map((svg) => {
    const box = svg.getBoundingClientRect();
    return [Math.round(box.width), Math.round(box.height)];
  });
  const measured = {
    pageWidth: document.documentElement.scrollWidth,
    windowWidth: window.innerWidth,
    charts: charts,
    total: document.querySelector("#routes tr.total").innerText.split("\\t"),
  };
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(measured);
  document.body.appendChild(out);
});
</script>"""


def open_in_browser(page: Path, *arguments: str) -> str:
    """What headless Chromium prints for ``page`` at a 1280 x 900 window."""
    assert BROWSER is not None
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", *arguments]
    result = subprocess.run([*command, page.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def test_the_page_in_a_real_browser(known_store: KnownStore, default_index_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    run_report(known_store, default_index_path, "--format", "html", "--out", str(out))
    probe = tmp_path / "probe.html"
    probe.write_text(out.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")

    dom = open_in_browser(probe, "--dump-dom")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom)
    assert found, "the browser did not run the page's load event"
    measured = json.loads(found.group(1).replace("&quot;", '"'))

    assert measured["pageWidth"] <= measured["windowWidth"], measured
    assert len(measured["charts"]) == 2 and all(width > 300 and height > 100 for width, height in measured["charts"])
    cost = f"${expected(known_store.catalog)['cost']:,.4f}"
    assert measured["total"][:5] == ["total", "5", "4", "75.0%", "50.0%"] and cost in measured["total"], measured

    shot = tmp_path / "report.png"
    open_in_browser(out, f"--screenshot={shot}", "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000  # a drawn page, not a blank
