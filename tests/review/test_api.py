"""The device API over real HTTP: authentication, limits, validation, idempotency, side effects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.review.conftest import Site
from tests.review.helpers import Server, detection, jpeg, make_event, post_event, tunnel_frame


@pytest.fixture()
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as c:
        yield c


def _stored_dirs(data: Path, event_id: str) -> list[Path]:
    return [p for p in (data / "evidence").rglob(f"{event_id}.*") if p.is_dir() and ".incoming" not in p.parts]


@pytest.mark.parametrize("header", [None, "Bearer grd_not-a-real-token", "Basic YWxpY2U6eA==", "Bearer"],
                         ids=["missing", "wrong-token", "wrong-scheme", "empty-token"])
def test_event_without_a_valid_device_token_is_refused_401(client: httpx.Client, site: Site, header: str | None) -> None:
    ev, files = detection()
    parts = [("files", (n, d, "image/jpeg")) for n, d in files]
    r = client.post("/api/v1/events", data={"event": json.dumps(ev)}, files=parts,
                    headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert "Authorization" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert not _stored_dirs(site.data, ev["id"])


@pytest.mark.parametrize(("device", "camera", "field"), [("pi-1", "east", "device"), ("pi-2", "north", "camera")],
                         ids=["other-devices-name", "camera-not-assigned"])
def test_event_for_a_device_or_camera_the_token_does_not_own_is_refused_403(
        client: httpx.Client, site: Site, device: str, camera: str, field: str) -> None:
    ev, files = detection(device=device, camera=camera)
    r = post_event(client, site.other_token, ev, files)
    assert r.status_code == 403
    assert r.json()["detail"].startswith(f"{field}:")


def test_upload_declaring_more_than_the_request_limit_is_refused_413(client: httpx.Client, site: Site) -> None:
    ev, files = detection()
    big = files + [("extra.jpg", b"\xff\xd8\xff" + b"\0" * 600_000)]
    r = post_event(client, site.token, {**ev, "evidence": {**ev["evidence"], "extra": "extra.jpg"}}, big)
    assert r.status_code == 413
    assert "request body" in r.json()["detail"]
    assert not _stored_dirs(site.data, ev["id"])


def test_streamed_upload_without_content_length_is_cut_at_the_limit_413(client: httpx.Client, site: Site) -> None:
    ev, _ = detection()
    boundary = "graffitiboundary"

    def body() -> Iterator[bytes]:  # chunked transfer: the server can only count what arrives
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\n{json.dumps(ev)}\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"frame.jpg\"\r\n"
               "Content-Type: image/jpeg\r\n\r\n").encode()
        for _ in range(40):
            yield b"\0" * 20_000
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/api/v1/events", content=body(), headers={
        "Authorization": f"Bearer {site.token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413
    assert "streamed" in r.json()["detail"]


def test_one_picture_over_the_file_limit_is_refused_413_naming_it(client: httpx.Client, site: Site) -> None:
    import numpy as np

    noisy = np.random.default_rng(0).integers(0, 255, (330, 420, 3), dtype=np.uint8)  # ~0.29 MB as JPEG q100
    ev, files = detection()
    files = [(n, jpeg(noisy, 100) if n == "frame.jpg" else d) for n, d in files]
    assert 0.25 * 2**20 < len(files[0][1]) < 0.5 * 2**20 - 60_000
    r = post_event(client, site.token, ev, files)
    assert r.status_code == 413
    assert r.json()["detail"].startswith("files[frame.jpg]")


@pytest.mark.parametrize("payload", [b"this is not a picture", b"\xff\xd8\xff\xe0" + b"\x00" * 200, b""],
                         ids=["text", "jpeg-magic-then-garbage", "empty"])
def test_evidence_that_is_not_an_image_is_refused_422(client: httpx.Client, site: Site, payload: bytes) -> None:
    ev, files = detection()
    files = [(n, payload if n == "crop.jpg" else d) for n, d in files]
    r = post_event(client, site.token, ev, files)
    assert r.status_code == 422
    assert r.json()["detail"] == "files[crop.jpg]: not a decodable image"
    assert not _stored_dirs(site.data, ev["id"])


@pytest.mark.parametrize(("change", "field"), [
    ({"schema": "graffiti-event/0"}, "schema"),
    ({"type": "graffiti_maybe"}, "type"),
    ({"score": 1.7}, "score"),
    ({"id": "not-a-uuid"}, "id"),
    ({"time": "yesterday"}, "time"),
    ({"evidence": {"frame": "frame.jpg", "crop": "crop.jpg", "extra": "missing.jpg"}}, "evidence.extra"),
    ({"evidence": {"frame": "frame.jpg"}}, "files"),
    ({"evidence": {"Frame!": "frame.jpg", "crop": "crop.jpg"}}, "evidence"),
], ids=["schema", "type", "score-range", "id", "time", "listed-file-missing", "file-not-listed", "bad-role"])
def test_invalid_event_is_refused_422_naming_the_field(client: httpx.Client, site: Site, change: dict, field: str) -> None:
    ev, files = detection()
    r = post_event(client, site.token, {**ev, **change}, files)
    assert r.status_code == 422
    assert r.json()["detail"].startswith(f"{field}:") or r.json()["detail"].startswith(f"{field}[")


def test_picture_claiming_huge_dimensions_is_refused_422(client: httpx.Client, site: Site) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))  # 1.2 GB if decoded
    ev, files = detection()
    r = post_event(client, site.token, ev, [(n, bomb if n == "crop.jpg" else d) for n, d in files])
    assert r.status_code == 422
    assert r.json()["detail"].startswith("files[crop.jpg]: not a decodable image")


def test_event_field_that_is_not_json_is_refused_422(client: httpx.Client, site: Site) -> None:
    r = client.post("/api/v1/events", data={"event": "{not json"}, headers={"Authorization": f"Bearer {site.token}"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("event: not valid JSON")


def test_replayed_event_id_is_stored_once(client: httpx.Client, site: Site) -> None:
    ev, files = detection(camera="south")
    first = post_event(client, site.token, ev, files)
    again = post_event(client, site.token, ev, files)
    changed = post_event(client, site.token, {**ev, "score": 0.99}, files)  # same id, different body
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 200)
    assert again.json() == {"status": "duplicate", "id": ev["id"]}
    listed = client.get("/api/v1/events", params={"camera": "south", "limit": 1000},
                        headers={"Authorization": f"Bearer {site.token}"}).json()
    assert [e["id"] for e in listed].count(ev["id"]) == 1
    assert next(e for e in listed if e["id"] == ev["id"])["score"] == ev["score"]
    assert len(_stored_dirs(site.data, ev["id"])) == 1


@pytest.mark.parametrize("name", ["../../escape.jpg", "..%2F..%2Fescape.jpg", "/etc/passwd", "sub/frame.jpg", ".hidden.jpg"],
                         ids=["dotdot", "encoded", "absolute", "subfolder", "dotfile"])
def test_path_traversal_in_evidence_names_is_refused(client: httpx.Client, site: Site, tmp_path: Path, name: str) -> None:
    ev, files = detection()
    as_listed = post_event(client, site.token, {**ev, "evidence": {"frame": name}}, [(name, files[0][1])])
    assert as_listed.status_code == 422
    assert as_listed.json()["detail"].startswith("evidence.frame:")
    # The same picture sent under a traversal file name that the event does not list.
    sneaky = post_event(client, site.token, {**ev, "evidence": {"frame": "frame.jpg"}},
                        [("frame.jpg", files[0][1]), (name, files[0][1])])
    assert sneaky.status_code == 422
    assert not (site.data / "escape.jpg").exists() and not (site.data.parent / "escape.jpg").exists()


def test_evidence_is_stored_under_server_chosen_names_inside_the_data_folder(client: httpx.Client, site: Site) -> None:
    ev, files = detection()
    ev["evidence"] = {"frame": "IMG_0001.jpg", "crop": "c-0001.jpg"}
    files = [("IMG_0001.jpg", files[0][1]), ("c-0001.jpg", files[1][1])]
    assert post_event(client, site.token, ev, files).status_code == 201
    (folder,) = _stored_dirs(site.data, ev["id"])
    assert sorted(p.name for p in folder.iterdir()) == ["crop.jpg", "frame.jpg"]
    assert folder.resolve().is_relative_to((site.data / "evidence").resolve())


def test_heartbeat_marks_the_cameras_online_with_last_frame_time(client: httpx.Client, site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.token}"}
    hb = {"schema": "graffiti-heartbeat/1", "device": "pi-1", "time": "2026-01-01T00:00:00Z", "outbox_depth": 0,
          "cameras": {"north": {"frames_seen": 1200, "last_frame_age_s": 2.5, "inference_ms_p50": 41.0,
                                "inference_ms_p95": 60.0, "state": "online"},
                      "west": {"state": "online"}}}
    r = client.post("/api/v1/heartbeats", json=hb, headers=auth)
    assert r.status_code == 200
    assert r.json()["ignored_cameras"] == ["west"]
    cams = {c["camera"]: c for c in client.get("/api/v1/cameras", headers=auth).json()}
    assert cams["north"]["online"] is True and cams["north"]["last_frame_utc"] and cams["north"]["last_heartbeat_utc"]
    assert "east" not in cams  # a device sees only its own cameras


@pytest.mark.parametrize(("body", "field"), [
    ({"schema": "x", "device": "pi-1"}, "schema"),
    ({"schema": "graffiti-heartbeat/1", "device": "pi-1", "cameras": {"north": {"last_frame_age_s": -1}}},
     "cameras.north.last_frame_age_s"),
], ids=["schema", "negative-age"])
def test_invalid_heartbeat_is_refused_422_naming_the_field(client: httpx.Client, site: Site, body: dict, field: str) -> None:
    r = client.post("/api/v1/heartbeats", json=body, headers={"Authorization": f"Bearer {site.token}"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith(field + ":")


def test_camera_offline_and_tamper_events_set_the_camera_state(client: httpx.Client, site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.token}"}
    off = make_event(camera="south", type="camera_offline", detail={"no_frames_for_s": 95})
    assert post_event(client, site.token, off, []).status_code == 201
    state = {c["camera"]: c for c in client.get("/api/v1/cameras", headers=auth).json()}["south"]
    assert (state["state"], state["online"], state["detail"]) == ("offline", False, "no_frames_for_s: 95")
    frame, _ = tunnel_frame(tag=False)
    tamper = make_event(camera="south", type="camera_tamper", detail={"reason": "view moved"},
                        evidence={"frame": "f.jpg"})
    assert post_event(client, site.token, tamper, [("f.jpg", jpeg(frame))]).status_code == 201
    state = {c["camera"]: c for c in client.get("/api/v1/cameras", headers=auth).json()}["south"]
    assert state["state"] == "tamper"


def test_graffiti_cleaned_event_closes_its_alert_as_cleaned_by_device(client: httpx.Client, site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.token}"}
    ev, files = detection(camera="south")
    assert post_event(client, site.token, ev, files).status_code == 201
    clean_frame, _ = tunnel_frame(tag=False)
    cleaned = make_event(camera="south", type="graffiti_cleaned", related_event=ev["id"], score=0.04,
                         evidence={"frame": "after.jpg"})
    assert post_event(client, site.token, cleaned, [("after.jpg", jpeg(clean_frame))]).status_code == 201
    assert client.get(f"/api/v1/events/{ev['id']}", headers=auth).json()["status"] == "cleaned_by_device"


def test_event_list_filters_by_camera_type_status_and_time(client: httpx.Client, site: Site) -> None:
    auth = {"Authorization": f"Bearer {site.token}"}
    old, files = detection(camera="north", time="2020-05-01T10:00:00Z")
    assert post_event(client, site.token, old, files).status_code == 201
    offline = make_event(camera="north", type="camera_offline", time="2020-05-02T10:00:00Z")
    assert post_event(client, site.token, offline, []).status_code == 201

    def ids(**params: object) -> list[str]:
        r = client.get("/api/v1/events", params={"limit": 1000, **params}, headers=auth)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()]

    assert old["id"] in ids(camera="north") and old["id"] not in ids(camera="south")
    assert offline["id"] in ids(type="camera_offline") and old["id"] not in ids(type="camera_offline")
    assert old["id"] in ids(status="open") and offline["id"] not in ids(status="open")
    recent = ids(since="2020-05-01T12:00:00Z")
    assert offline["id"] in recent and old["id"] not in recent
    assert len(ids(limit=1)) == 1
    bad = client.get("/api/v1/events", params={"type": "nope"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("type:")
    bad_time = client.get("/api/v1/events", params={"since": "last tuesday"}, headers=auth)
    assert bad_time.status_code == 422 and bad_time.json()["detail"].startswith("since:")
    others = client.get("/api/v1/events", headers={"Authorization": f"Bearer {site.other_token}"}).json()
    assert all(e["camera"] == "east" for e in others)


def test_accepted_regions_need_a_token_that_owns_the_camera(client: httpx.Client, site: Site) -> None:
    ok = client.get("/api/v1/accepted-regions", params={"camera": "north"}, headers={"Authorization": f"Bearer {site.token}"})
    assert ok.status_code == 200 and isinstance(ok.json(), list)
    assert client.get("/api/v1/accepted-regions", params={"camera": "north"}).status_code == 401
    other = client.get("/api/v1/accepted-regions", params={"camera": "north"},
                       headers={"Authorization": f"Bearer {site.other_token}"})
    assert other.status_code == 403


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/events", "/api/v1/heartbeats", "/api/v1/accepted-regions", "/api/v1/cameras"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_graffiti_cleaned_event_from_another_camera_leaves_the_alert_open(client: httpx.Client, site: Site) -> None:
    ev, files = detection(camera="north")
    assert post_event(client, site.token, ev, files).status_code == 201
    cleaned = make_event(camera="south", type="graffiti_cleaned", related_event=ev["id"])
    assert post_event(client, site.token, cleaned, []).status_code == 201
    got = client.get(f"/api/v1/events/{ev['id']}", headers={"Authorization": f"Bearer {site.token}"}).json()
    assert got["status"] == "open"
