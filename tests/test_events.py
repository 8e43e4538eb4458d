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
        ("score", 1.7, "score: expected a number in"),
        ("tiles", [{"xyxy": [0, 0, 1], "score": 0.5}], r"tiles\[0\]"),
        ("evidence", {"frame": "../../etc/passwd"}, "evidence.frame: expected a plain file name"),
        ("evidence", {"frame": "a/b.jpg"}, "evidence.frame"),
        ("camera", "", "camera: expected a non-empty string"),
    ],
    ids=["schema-version", "id", "type", "time", "score-range", "tile-box", "path-traversal", "subfolder", "empty-camera"],
)
def test_invalid_events_name_the_field(field: str, value: object, match: str) -> None:
    data = _event()
    data[field] = value
    with pytest.raises(SchemaError, match=match):
        validate_event_dict(data)
