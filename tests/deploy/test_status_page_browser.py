"""The admin status page in a real headless browser (Debian's chromium, driven by Playwright)
during a failover: the page redraws itself, without a reload, and the killed instance turns red.

Screenshots before and after stay in the test's tmp_path (status-before.png, status-after.png);
each is checked to show the ring: green instance circles, and after the kill one red circle.
Skips when chromium (scripts/install-system-deps browser) or Playwright (the dev extra) is missing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from integration_helpers import DEADLINE, assert_no_tracebacks, wait_for, write_config  # noqa: E402

from ring.config import format_address  # noqa: E402
from ring.drill.cluster import LocalCluster  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the dev extra)")
Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (the dev extra)")

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                 "(scripts/install-system-deps browser)")]

GREEN, RED = (0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)  # ring.host.statuspage's ALIVE and DEAD


def pixels_of(png: Path, color: tuple[int, int, int]) -> int:
    image = Image.open(png).convert("RGB")
    return sum(n for n, rgb in image.getcolors(maxcolors=1 << 20) or []
               if all(abs(a - b) <= 8 for a, b in zip(rgb, color, strict=True)))


def test_the_status_page_shows_the_dead_instance_in_red(tmp_path: Path) -> None:
    config = write_config(tmp_path, ("a", "b", "c"), admin=True)
    with LocalCluster(config, tmp_path / "run", python=sys.executable) as cluster:
        cluster.start_all(timeout=DEADLINE)
        wait_for(cluster.ring_healed, "the ring to form")
        admin = cluster.config.admin_address("a")
        assert admin is not None
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                page.goto(f"http://{format_address(*admin)}/", timeout=DEADLINE * 1000)
                page.wait_for_selector('g.instance.alive[data-id="c"]', timeout=DEADLINE * 1000)
                before = tmp_path / "status-before.png"
                page.screenshot(path=str(before), full_page=True)
                assert page.locator("g.instance.alive").count() == 3
                assert page.locator("line.successor").count() == 3

                cluster.kill("c")
                # no reload: the page's script polls /status.json and swaps the drawing
                page.wait_for_selector('g.instance.dead[data-id="c"]', timeout=DEADLINE * 1000)
                page.wait_for_function("document.querySelectorAll('line.successor').length === 2",
                                       timeout=DEADLINE * 1000)
                after = tmp_path / "status-after.png"
                page.screenshot(path=str(after), full_page=True)
                assert "instance down: c" in page.inner_text("#panel")
            finally:
                browser.close()
        circle = 3.14 * 36 * 36  # pixels of one instance's disc, roughly
        assert pixels_of(before, GREEN) > 2.5 * circle and pixels_of(before, RED) < 0.1 * circle
        assert pixels_of(after, GREEN) > 1.5 * circle and pixels_of(after, RED) > 0.7 * circle
        print(f"screenshots: {before} {after}")
    assert_no_tracebacks(cluster)
