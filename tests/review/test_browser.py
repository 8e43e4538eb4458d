"""A real headless Chromium (Debian's package) driven by Playwright: sign in, open an alert, confirm it
by button and by keyboard, reject one by keyboard, and see the queue update. Saves a screenshot of the
detail page (set GRAFFITI_REVIEW_SCREENSHOT=docs/review-detail.png to refresh the README's picture)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import REPO, Server, detection, post_event, scene_detection

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                 "(apt-get install chromium; scripts/test installs it)")]



@pytest.fixture(scope="module")
def site(sqlite_site: Site) -> Site:
    return sqlite_site  # the end-to-end checks run on the default database only

@pytest.fixture(scope="module")
def alerts(server: Server, site: Site) -> dict[str, dict]:
    """Three open alerts: an older low one, the realistic tunnel scene, and a newer one on south."""
    made = {}
    with httpx.Client(base_url=server.url) as c:
        for key, (ev, files) in {
            "low": detection(camera="north", seed=3, score=0.66),
            "scene": scene_detection(),
            "south": detection(camera="south", seed=5, score=0.81),
        }.items():
            assert post_event(c, site.token, ev, files).status_code == 201
            made[key] = ev
        hb = {"schema": "graffiti-heartbeat/1", "device": "pi-1", "cameras": {
            "north": {"state": "online", "last_frame_age_s": 0.4, "frames_seen": 86400, "inference_ms_p50": 38.0},
            "south": {"state": "online", "last_frame_age_s": 0.6, "frames_seen": 86100, "inference_ms_p50": 40.0}}}
        assert c.post("/api/v1/heartbeats", json=hb, headers={"Authorization": f"Bearer {site.token}"}).status_code == 200
    return made


@pytest.fixture()
def page(server: Server) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 960}, device_scale_factor=1)
            pg = context.new_page()
            pg.set_default_timeout(15_000)
            yield pg
        finally:
            browser.close()


def _status(server: Server, site: Site, event_id: str) -> str:
    r = httpx.get(f"{server.url}/api/v1/events/{event_id}", headers={"Authorization": f"Bearer {site.token}"})
    return str(r.json()["status"])


def test_operator_signs_in_reviews_and_confirms_alerts_in_a_real_browser(
        page: object, server: Server, site: Site, alerts: dict[str, dict], tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(server.url + "/queue")
    expect(page).to_have_url(f"{server.url}/login?next=/queue")
    page.fill("input[name=user]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/queue")
    rows = page.locator("tr.alert-row")
    expect(rows).to_have_count(3)
    expect(page.locator("#tab-open .count")).to_have_text("3")

    # Open the realistic alert from the queue; the frame, heat-map and boxes render.
    page.click(f"#row-{alerts['scene']['id']} a.open-link")
    expect(page).to_have_url(f"{server.url}/events/{alerts['scene']['id']}?sort=newest")
    page.wait_for_function("() => { const i = document.getElementById('frame-img');"
                           " const r = document.getElementById('ref-img');"
                           " return i && i.complete && i.naturalWidth > 0 && r && r.complete && r.naturalWidth > 0; }")
    assert page.locator("#heat-layer rect").count() == len(alerts["scene"]["tiles"])
    expect(page.locator("#box-layer rect.bbox")).to_have_count(1)
    expect(page.locator("svg.spark polyline")).to_have_count(1)
    shot = tmp_path / "review-detail.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("GRAFFITI_REVIEW_SCREENSHOT"):
        shutil.copyfile(shot, REPO / os.environ["GRAFFITI_REVIEW_SCREENSHOT"])

    # 'h' hides the heat-map; the button confirms and moves on to the next open alert.
    page.keyboard.press("h")
    expect(page.locator("#heat-layer")).to_be_hidden()
    page.click("#btn-confirm")
    expect(page.locator(".flash")).to_contain_text("Confirmed")
    assert _status(server, site, alerts["scene"]["id"]) == "confirmed"
    assert alerts["scene"]["id"] not in page.url.split("?")[0]  # moved on to the next open alert

    # Keyboard triage on the alert now shown: 'c' confirms it.
    shown = page.url.split("/events/")[1].split("?")[0]
    page.keyboard.press("c")
    expect(page.locator(".flash")).to_contain_text("Confirmed")
    assert _status(server, site, shown) == "confirmed"

    # The last one: 'r', pick a reason with the arrow keys, Enter rejects it.
    last = next(e["id"] for e in alerts.values() if e["id"] not in (alerts["scene"]["id"], shown))
    page.goto(f"{server.url}/events/{last}")
    page.keyboard.press("r")
    expect(page.locator("#reject-reason")).to_be_focused()
    page.select_option("#reject-reason", "poster")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/queue?done=reject&last={last}&sort=newest")
    assert _status(server, site, last) == "rejected"

    # The queue reflects all three decisions.
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator("#tab-open .count")).to_have_text("0")
    expect(page.locator("#tab-confirmed .count")).to_have_text("2")
    page.click("#tab-closed")
    expect(page.locator(f"#row-{last}")).to_contain_text("false alarm")

    # The audit trail names who decided what.
    page.goto(server.url + "/audit")
    actors = page.locator("#audit tbody tr td:nth-child(2)")
    expect(actors.filter(has_text="alice")).to_have_count(3)
    expect(page.locator("#audit tbody tr", has_text="reject")).to_contain_text("poster")
