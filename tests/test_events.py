"""The event schema: what the edge sends is what the review service accepts."""

from __future__ import annotations

import json

import pytest

from detector.events import Event, ModelRef, SchemaError, TileScore, validate_event_dict


def _event() -> dict:
    ev = Event(device="pi-1", camera="north", type="graffiti_detected", score=0.93, threshold=0.8,
               tiles=[TileScore((0, 0, 320, 320), 0.93)], bbox=(0, 0, 320, 320), frame_size=(1280, 720),
               model=ModelRef("m", "1", "ab" * 32), evidence={"frame": "frame.jpg", "crop": "crop.jpg"})
    return json.loads(json.dumps(ev.to_dict()))


def test_event_from_the_edge_validates_after_json_round_trip() -> None:
    data = _event()
    assert validate_event_dict(data) is data
    assert data["schema"] == "graffiti-event/1" and data["time"].endswith("Z")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("schema", "graffiti-event/0", "schema"),
        ("id", "not-a-uuid", "id: expected a UUID"),
        ("type", "graffiti", "type: expected one of"),
        ("time", "yesterday", "time: expected an ISO 8601"),
        ("score", 1.7, "score: expected a finite number in"),
        ("tiles", [{"xyxy": [0, 0, 1], "score": 0.5}], r"tiles\[0\]"),
        ("evidence", {"frame": "../../etc/passwd"}, "evidence.frame: expected a plain file name"),
        ("evidence", {"frame": "a/b.jpg"}, "evidence.frame"),
        ("camera", "", "camera: expected a non-empty string"),
        # Found by probing the review service (issue 11): each was accepted and then broke something.
        ("time", "9999-12-31T23:59:59.000-05:00", "time: .* outside the range of representable UTC times"),
        ("time", "0001-01-01T00:00:00.000+05:00", "time: .* outside the range"),
        ("tiles", [{"xyxy": [0, 0, 10, 10], "score": float("nan")}], r"tiles\[0\]\.score: expected a finite"),
        ("frame_size", ["a", "b"], "frame_size: expected"),
        ("frame_size", [float("inf"), 720], "frame_size: expected"),
        ("frame_size", [0, 720], "frame_size: expected"),
        ("score_history", [[1]], r"score_history\[0\]: expected a \[seconds_before, score\] pair"),
        ("score_history", [[1, float("nan")]], r"score_history\[0\]\[1\]"),
        ("detail", [1, 2], "detail: expected an object"),
        ("detail", {"reason": "\ud800"}, "detail.reason: expected text without NUL/lone surrogates"),
        ("detail", {"reason": "dark\x00"}, "detail.reason"),
        ("bbox", [0, 0, float("inf"), 100], "bbox: expected"),
        ("bbox", [50, 0, 10, 100], "bbox: expected"),
        ("related_event", "x" * 40, "related_event: expected a UUID"),
        ("camera", "c" * 65, "camera: expected at most 64 characters"),
        ("evidence_dropped", ["Frame!"], "evidence_dropped: expected a list of evidence role names"),
        ("tiles", [{"xyxy": [0, 0, 1, 1], "score": 0.5}] * 5000, "tiles: expected a list of at most"),
        ("extra_field", {"x": float("nan")}, "extra_field.x"),
    ],
    ids=["schema-version", "id", "type", "time", "score-range", "tile-box", "path-traversal", "subfolder", "empty-camera",
         "time-year-9999-minus-5h", "time-year-1-plus-5h", "tile-score-nan", "frame-size-text", "frame-size-inf",
         "frame-size-zero", "history-not-pairs", "history-nan", "detail-list", "detail-lone-surrogate", "detail-nul",
         "bbox-inf", "bbox-inverted", "related-event-long", "camera-too-long", "evidence-dropped-role",
         "too-many-tiles", "unknown-field-nan"],
)
def test_invalid_events_name_the_field(field: str, value: object, match: str) -> None:
    data = _event()
    data[field] = value
    with pytest.raises(SchemaError, match=match):
        validate_event_dict(data)


def test_receiver_refuses_times_years_away_from_its_clock_but_the_sender_does_not_check() -> None:
    from datetime import datetime, timezone

    data = _event()
    data["time"] = "2050-01-01T00:00:00Z"
    validate_event_dict(data)  # the edge has no other clock to compare with (replayed streams carry their own)
    with pytest.raises(SchemaError, match="time: .* check the device clock"):
        validate_event_dict(data, now=datetime(2026, 11, 29, tzinfo=timezone.utc))


def test_evidence_dropped_lists_roles_and_outbox_detail_stays_accepted() -> None:
    data = _event()
    data["evidence_dropped"] = ["frame", "crop"]
    data["detail"] = {"evidence_dropped": {"files": ["frame.jpg"], "reason": "outbox full"}}  # edge/delivery/cap.py
    assert validate_event_dict(data)["evidence_dropped"] == ["frame", "crop"]


def test_ids_are_normalised_to_the_canonical_uuid_form() -> None:
    data = _event()
    data["id"] = data["id"].upper()
    assert validate_event_dict(data)["id"] == data["id"].lower()


@pytest.mark.parametrize(("change", "match"), [
    ({"cameras": {"north": {"last_frame_age_s": float("nan")}}}, "cameras.north.last_frame_age_s"),
    ({"cameras": {"north": {"last_frame_age_s": 1e300}}}, "cameras.north.last_frame_age_s"),
    ({"cameras": {"north": {"frames_seen": 2**70}}}, "cameras.north.frames_seen"),
    ({"cameras": {"north": {"state": "x" * 40}}}, "cameras.north.state"),
    ({"cameras": {"no\x00rth": {}}}, "cameras key: contains a NUL"),
    ({"disk_free_mb": float("inf")}, "disk_free_mb"),
], ids=["age-nan", "age-1e300", "frames-2-70", "state-long", "camera-nul", "disk-inf"])
def test_invalid_heartbeats_name_the_field(change: dict, match: str) -> None:
    from detector.events import Heartbeat, validate_heartbeat_dict

    data = {**json.loads(json.dumps(Heartbeat(device="pi-1").to_dict())), **change}
    with pytest.raises(SchemaError, match=match):
        validate_heartbeat_dict(data)


@pytest.mark.parametrize(("text", "match"), [
    ("{", r"event: not valid JSON \(Expecting property name"),
    ("[" * 100_000, "event: not usable JSON"),
    ("1" * 5000, "event: not usable JSON"),
    ("[]", "event: expected a JSON object"),
])
def test_received_event_text_that_is_not_an_event_object_names_the_event(text: str, match: str) -> None:
    from detector.events import parse_event_json

    with pytest.raises(SchemaError, match=match):
        parse_event_json(text)


def test_received_event_and_heartbeat_text_parse_to_the_checked_dicts() -> None:
    from detector.events import Heartbeat, parse_event_json, parse_heartbeat_json

    sent = _event()
    got = parse_event_json(json.dumps(sent).encode())
    assert got == sent
    hb = parse_heartbeat_json(json.dumps(Heartbeat(device="pi-1").to_dict()))
    assert hb["device"] == "pi-1"
    with pytest.raises(SchemaError, match="heartbeat: not valid JSON"):
        parse_heartbeat_json(b"{\"device\":")
    with pytest.raises(SchemaError, match="heartbeat: not usable JSON"):
        parse_heartbeat_json(b"{\"device\": \"\xff\"}")


@pytest.mark.parametrize(("names", "match"), [
    (["frame.jpg"], "evidence.crop: file 'crop.jpg' is not in the upload"),
    (["frame.jpg", "crop.jpg", "x.jpg"], "files: 'x.jpg' is not named in event.evidence"),
    (["frame.jpg", "crop.jpg", "frame.jpg"], "files: 'frame.jpg' uploaded twice"),
])
def test_files_beside_an_event_must_match_its_evidence_list(names: list[str], match: str) -> None:
    from detector.events import pair_evidence

    evidence = {"frame": "frame.jpg", "crop": "crop.jpg"}
    assert pair_evidence(evidence, ["crop.jpg", "frame.jpg"]) == {"frame.jpg": "frame", "crop.jpg": "crop"}
    with pytest.raises(SchemaError, match=match):
        pair_evidence(evidence, names)


@pytest.mark.parametrize(("name", "ok"), [
    ("north", True), ("pi-tunnel-7", True), ("Cam_2", True), ("a" * 64, True),
    ("", False), ("a" * 65, False), ("north.portal", False), (".hidden", False), ("-x", False),
    ("_x", False), ("north\n", False), ("north/../x", False), ("nörth", False), (7, False),
])
def test_one_device_and_camera_name_rule_at_both_ends(name: object, ok: bool) -> None:
    """The edge config, the edge's state files and the review service's add-device use one rule."""
    from detector.edge.config import parse_edge_config
    from detector.errors import ConfigError
    from detector.events import NAME, is_name
    from detector.review.store import check_name

    assert is_name(name) is ok
    if isinstance(name, str):
        assert bool(NAME.match(name)) is ok  # how the edge's state store checks a camera name
        for where in ("device", "camera"):
            cfg = {"device": {"name": name if where == "device" else "pi"},
                   "cameras": {name if where == "camera" else "north": {"source": "0"}}}
            if ok:
                parse_edge_config(cfg)
            else:
                with pytest.raises(ConfigError):
                    parse_edge_config(cfg)
        if ok:
            assert check_name("camera", name) == name
        else:
            with pytest.raises(ConfigError, match="camera .*: expected 1-64 letters, digits"):
                check_name("camera", name)
