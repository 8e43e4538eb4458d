"""The operator page in a real headless Chromium at a phone's width (390 px) and a desk screen's
(1440 px): nothing wider than the screen, the frame first and the decision buttons right under it,
the clean view the same size as the frame's twin, local times, drawing an accepted region, removing
one with confirmation, and an error page after a race. Screenshots are written as test artefacts to
``$GRAFFITI_TEST_ARTIFACTS/review`` (default ``out/test-artifacts/review``); set
GRAFFITI_REVIEW_PHONE_SCREENSHOT=docs/review-phone.png to refresh the docs' phone picture."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.review.conftest import PASSWORD, Site
from tests.review.helpers import (
    REPO,
    Server,
    csrf_of,
    detection,
    make_event,
    post_event,
    scene_detection,
    sign_in,
)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("GRAFFITI_TEST_ARTIFACTS") or REPO / "out" / "test-artifacts") / "review"
WIDTHS = {"phone": (390, 844), "desk": (1440, 900)}

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                 "(apt-get install chromium; scripts/test installs it)")]


@pytest.fixture(scope="module")
def site(sqlite_site: Site) -> Site:
    return sqlite_site


@pytest.fixture(scope="module")
def alerts(server: Server, site: Site) -> dict[str, dict]:
    made = {}
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        for key, (ev, files) in {"scene": scene_detection(), "south": detection(camera="south", seed=5, score=0.81),
                                 "race": detection(camera="south", seed=2, score=0.7),
                                 "mural": detection(camera="south", seed=8, score=0.77)}.items():
            assert post_event(c, site.token, ev, files).status_code == 201
            made[key] = ev
        tamper = make_event(camera="south", type="camera_tamper", detail={"reason": "dark", "brightness": 4.2})
        assert post_event(c, site.token, tamper, []).status_code == 201
    return made


@pytest.fixture(params=sorted(WIDTHS), scope="module")
def width(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def page(server: Server, width: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    w, h = WIDTHS[width]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": w, "height": h}, device_scale_factor=1,
                                          timezone_id="Europe/Berlin", has_touch=width == "phone")
            pg = context.new_page()
            pg.set_default_timeout(15_000)
            pg.goto(server.url + "/login")
            pg.fill("input[name=user]", "alice")
            pg.fill("input[name=password]", PASSWORD)
            pg.click("button[type=submit]")
            pg.wait_for_url(server.url + "/queue")
            yield pg
        finally:
            browser.close()


def _shot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000
    return path


def _no_sideways_scroll(page: object) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
    assert overflow <= 0, f"page is {overflow} px wider than the screen"


def _box(page: object, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()  # type: ignore[attr-defined]
    assert box is not None, selector
    return box


def _images_loaded(page: object, *ids: str) -> None:
    cond = " && ".join(f"(() => {{ const i = document.getElementById('{i}'); return i && i.complete && i.naturalWidth > 0; }})()"
                       for i in ids)
    page.wait_for_function(f"() => {cond}")  # type: ignore[attr-defined]


def test_queue_fits_the_screen_shows_the_count_and_flags_the_tampered_camera(
        page: object, server: Server, alerts: dict, width: str) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/queue")  # type: ignore[attr-defined]
    expect(page.locator("#queue-count")).to_contain_text("of 4 open alerts")  # type: ignore[attr-defined]
    expect(page.locator(f"#row-{alerts['south']['id']} .cam-badge")).to_contain_text("tamper")  # type: ignore[attr-defined]
    _no_sideways_scroll(page)
    _shot(page, f"queue-{width}")


def test_alert_page_puts_the_frame_first_and_the_decision_right_under_it(
        page: object, server: Server, alerts: dict, width: str) -> None:
    from playwright.sync_api import expect

    ev = alerts["scene"]
    page.goto(f"{server.url}/events/{ev['id']}")  # type: ignore[attr-defined]
    _images_loaded(page, "frame-img", "ref-img", "cmp-now")
    _no_sideways_scroll(page)
    expect(page.locator("#region-layer")).to_be_hidden()  # type: ignore[attr-defined]
    if width == "phone" and os.environ.get("GRAFFITI_REVIEW_PHONE_SCREENSHOT"):  # what a phone shows first
        page.screenshot(path=str(REPO / os.environ["GRAFFITI_REVIEW_PHONE_SCREENSHOT"]))  # type: ignore[attr-defined]
    frame, confirm = _box(page, "#frame-img"), _box(page, "#btn-confirm")
    vw, vh = WIDTHS[width]
    assert frame["width"] > 0.85 * (vw if width == "phone" else vw - 420)
    if width == "phone":
        assert confirm["y"] > frame["y"] + frame["height"] - 1  # below the picture ...
        assert confirm["y"] + confirm["height"] <= vh  # ... and on the first screen, no scrolling
    else:
        assert confirm["x"] > frame["x"] + frame["width"] and confirm["y"] < vh  # beside it
    # Now and the last clean view: the same size (side by side on a desk, a slider on a phone).
    now, clean = _box(page, "#cmp-now"), _box(page, "#ref-img")
    assert abs(now["width"] - clean["width"]) <= 1 and abs(now["height"] - clean["height"]) <= 1
    mode = page.locator("#compare-mode")  # type: ignore[attr-defined]
    if width == "phone":
        expect(mode).to_have_text("side by side")
        assert abs(now["y"] - clean["y"]) <= 1 and abs(now["width"] - frame["width"]) <= 2
        page.locator("#compare-slider").fill("20")  # type: ignore[attr-defined]
    else:
        expect(mode).to_have_text("slider")
        assert clean["x"] > now["x"] + now["width"] - 1
    # Times are shown in the browser's zone (Berlin here), UTC on hover.
    t = page.locator(".event-head time")  # type: ignore[attr-defined]
    assert "UTC" in (t.get_attribute("title") or "") and t.inner_text() not in (t.get_attribute("title") or "")
    assert _shot(page, f"event-{width}").is_file()


def test_operator_adjusts_the_proposed_region_and_the_edge_gets_it(
        page: object, server: Server, site: Site, alerts: dict, width: str) -> None:
    from playwright.sync_api import expect

    ev = alerts["mural"] if width == "desk" else alerts["south"]
    page.goto(f"{server.url}/events/{ev['id']}")  # type: ignore[attr-defined]
    _images_loaded(page, "frame-img")
    page.click("#btn-accept")  # type: ignore[attr-defined]
    expect(page.locator("#region-layer")).to_be_visible()  # type: ignore[attr-defined]
    x1, y1, x2, y2 = ev["bbox"]
    proposed = json.loads(page.locator("#region-polygon").input_value())  # type: ignore[attr-defined]
    assert proposed == [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]  # the event box is the starting proposal
    # Drag the bottom-right corner to the frame's bottom-right quarter point.
    fw, fh = ev["frame_size"]
    frame = _box(page, "#frame-img")
    handle = _box(page, ".handle[data-corner=se]")
    target = (frame["x"] + frame["width"] * 0.9, frame["y"] + frame["height"] * 0.9)
    mouse = page.mouse  # type: ignore[attr-defined]
    mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    mouse.down()
    mouse.move(*target, steps=5)
    mouse.up()
    drawn = json.loads(page.locator("#region-polygon").input_value())  # type: ignore[attr-defined]
    assert drawn[0] == [x1, y1] and abs(drawn[2][0] - 0.9 * fw) < fw * 0.03 and abs(drawn[2][1] - 0.9 * fh) < fh * 0.03
    _shot(page, f"region-edit-{width}")
    page.click("#btn-accept")  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "done=accept_region" in url)  # type: ignore[attr-defined]
    regions = httpx.get(server.url + "/api/v1/accepted-regions", params={"camera": ev["camera"]},
                        headers={"Authorization": f"Bearer {site.token}"}).json()
    assert any(r["polygon"] == drawn for r in regions)

    # The camera page draws it on the picture; removal asks first.
    page.goto(f"{server.url}/cameras/{ev['camera']}")  # type: ignore[attr-defined]
    _images_loaded(page, "camera-picture")
    expect(page.locator("polygon.region-poly")).not_to_have_count(0)  # type: ignore[attr-defined]
    _no_sideways_scroll(page)
    _shot(page, f"camera-{width}")
    page.locator("a[id^=remove-]").last.click()  # type: ignore[attr-defined]
    expect(page.locator("#confirm-remove")).to_contain_text("will alert again")  # type: ignore[attr-defined]
    expect(page.locator("polygon.region-poly.highlight")).to_have_count(1)  # type: ignore[attr-defined]
    page.click("#btn-remove-confirm")  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "removed=" in url)  # type: ignore[attr-defined]
    after = httpx.get(server.url + "/api/v1/accepted-regions", params={"camera": ev["camera"]},
                      headers={"Authorization": f"Bearer {site.token}"}).json()
    assert not any(r["polygon"] == drawn for r in after)


def test_deciding_after_another_operator_shows_an_error_page_with_the_way_on(
        page: object, server: Server, site: Site, width: str) -> None:
    from playwright.sync_api import expect

    ev, files = detection(camera="north", seed=11 if width == "phone" else 12)
    with httpx.Client(base_url=server.url, timeout=30.0) as c:
        assert post_event(c, site.token, ev, files).status_code == 201
    page.goto(f"{server.url}/events/{ev['id']}")  # type: ignore[attr-defined]
    with httpx.Client(base_url=server.url, timeout=30.0) as carol:  # decides while alice looks at it
        assert sign_in(carol, "carol", PASSWORD).status_code == 303
        csrf = csrf_of(carol.get(f"/events/{ev['id']}").text)
        assert carol.post(f"/events/{ev['id']}/action",
                          data={"action": "reject", "reason": "stain", "csrf": csrf}).status_code == 303
    page.click("#btn-confirm")  # type: ignore[attr-defined]
    expect(page.locator("#error-message")).to_contain_text("already")  # type: ignore[attr-defined]
    expect(page.locator("#error-message")).to_contain_text("carol")  # type: ignore[attr-defined]
    _no_sideways_scroll(page)
    _shot(page, f"error-{width}")
    page.click("#btn-error-reopen")  # type: ignore[attr-defined]
    expect(page.locator("#event-status")).to_have_text("open")  # type: ignore[attr-defined]
    expect(page.locator("#btn-confirm")).to_be_visible()  # type: ignore[attr-defined]


def test_docs_page_renders_swagger_ui_offline(page: object, server: Server, width: str) -> None:
    from playwright.sync_api import expect

    blocked: list[str] = []
    page.route("**/*", lambda route: (blocked.append(route.request.url), route.abort())  # type: ignore[attr-defined]
               if not route.request.url.startswith(server.url) else route.continue_())
    page.goto(server.url + "/docs")  # type: ignore[attr-defined]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tunnel graffiti review service")  # type: ignore[attr-defined]
    expect(page.locator(".opblock-summary-path").first).to_be_visible()  # type: ignore[attr-defined]
    assert not blocked, blocked
    _shot(page, f"docs-{width}")
