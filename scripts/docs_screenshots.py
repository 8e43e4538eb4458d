"""Screenshots of the operator pages for docs/operator-guide.md, taken from a real review service.

Starts ``graffiti review serve`` on a temporary folder with the review tests' site (operator alice,
device pi-1 with cameras north and south), posts three realistic alerts and a heartbeat over the
device API, then drives Debian's Chromium through Playwright: the queue, the cameras page, and the
audit trail after one confirm and one reject. Needs the dev extra and /usr/bin/chromium.

Usage: .venv/bin/python scripts/docs_screenshots.py [--out docs]
(the event detail picture, docs/review-detail.png, comes from tests/review/test_browser.py with
GRAFFITI_REVIEW_SCREENSHOT=docs/review-detail.png)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHROMIUM = Path("/usr/bin/chromium")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the PNG files (default: docs/)")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} not found (apt-get install chromium)", file=sys.stderr)
        return 2
    import httpx
    from playwright.sync_api import expect, sync_playwright

    from tests.review.conftest import PASSWORD, make_site
    from tests.review.helpers import detection, post_event, scene_detection, start_server

    with tempfile.TemporaryDirectory() as tmp:
        site = make_site(Path(tmp) / "data")
        server = start_server(site.data)
        try:
            made = {}
            with httpx.Client(base_url=server.url) as c:
                for key, (ev, files) in {
                    "low": detection(camera="north", seed=3, score=0.66),
                    "scene": scene_detection(),
                    "south": detection(camera="south", seed=5, score=0.81),
                }.items():
                    post_event(c, site.token, ev, files).raise_for_status()
                    made[key] = ev
                hb = {"schema": "graffiti-heartbeat/1", "device": "pi-1", "cameras": {
                    "north": {"state": "online", "last_frame_age_s": 0.4, "frames_seen": 86400, "inference_ms_p50": 38.0},
                    "south": {"state": "online", "last_frame_age_s": 0.6, "frames_seen": 86100, "inference_ms_p50": 40.0}}}
                c.post("/api/v1/heartbeats", json=hb, headers={"Authorization": f"Bearer {site.token}"}).raise_for_status()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
                page = browser.new_context(viewport={"width": 1280, "height": 410}).new_page()
                page.goto(server.url + "/queue")
                page.fill("input[name=user]", "alice")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                expect(page.locator("tr.alert-row")).to_have_count(3)
                page.wait_for_load_state("networkidle")
                shots = []
                page.screenshot(path=str(args.out / "review-queue.png"))
                shots.append("review-queue.png")
                page.goto(f"{server.url}/events/{made['scene']['id']}")
                page.keyboard.press("c")
                expect(page.locator(".flash")).to_contain_text("Confirmed")
                page.goto(f"{server.url}/events/{made['low']['id']}")
                page.keyboard.press("r")
                expect(page.locator("#reject-reason")).to_be_focused()
                page.select_option("#reject-reason", "poster")
                page.keyboard.press("Enter")
                page.wait_for_url("**done=reject*")
                page.goto(server.url + "/cameras")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(args.out / "review-cameras.png"))
                shots.append("review-cameras.png")
                page.goto(server.url + "/audit")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(args.out / "review-audit.png"))
                shots.append("review-audit.png")
                browser.close()
        finally:
            server.stop()
    for name in shots:
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
