"""The per-camera state store: atomic, exact round trip of JSON values and numpy arrays, damage named."""

from __future__ import annotations

import numpy as np
import pytest

from detector.edge.state import StateError, StateStore


def test_state_round_trips_nested_json_and_arrays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = StateStore(tmp_path / "state")
    ring = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    state = {"engine": {"open": [{"key": 3, "tiles": [1, 2]}], "last_t_s": 12.5},
             "judge": {"wall": {"ring": ring, "estimate": None}, "scores": np.array([0.1, 0.9], np.float32)},
             "event_ids": {"3": "0eeb19d5-d763-5a91-8114-8d75f3b85c41"}}
    store.save("north", state)
    back = store.load("north")
    assert back is not None
    assert back["engine"] == state["engine"] and back["event_ids"] == state["event_ids"]
    assert np.array_equal(back["judge"]["wall"]["ring"], ring) and back["judge"]["wall"]["estimate"] is None
    assert back["judge"]["scores"].dtype == np.float32


def test_a_new_save_replaces_the_old_one_and_leaves_one_array_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = StateStore(tmp_path)
    for i in range(3):
        store.save("north", {"i": i, "a": np.full(3, i)})
    back = store.load("north")
    assert back is not None and back["i"] == 2 and back["a"].tolist() == [2, 2, 2]
    assert len(list(tmp_path.glob("north.*.npz"))) == 1 and not list(tmp_path.glob(".*tmp"))


def test_no_state_is_none_and_a_damaged_one_is_an_error_naming_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = StateStore(tmp_path)
    assert store.load("north") is None
    store.save("north", {"a": np.zeros(2)})
    (tmp_path / "north.json").write_text('{"format": 1, "camera": "north", "arr')
    with pytest.raises(StateError, match="north.json"):
        store.load("north")
    store.discard("north", "test")
    assert store.load("north") is None and (tmp_path / "north.json.bad").exists()


def test_camera_names_cannot_escape_the_state_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="plain name"):
        StateStore(tmp_path).save("../x", {})


def test_open_events_are_asked_of_the_review_service_over_http(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The answer format of GET /api/v1/devices/me/open-events (docs of the review service, issue 11)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from detector.edge.state import OpenEventsError, fetch_open_event_ids

    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            ok = self.headers.get("Authorization") == "Bearer tok"
            body = json.dumps({"device": "pi-1", "ids": ["a", "b"], "events": []} if ok else {"detail": "no"}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert fetch_open_event_ids(url, "tok") == {"a", "b"}
        assert seen[0] == ("/api/v1/devices/me/open-events", "Bearer tok")
        with pytest.raises(OpenEventsError, match="HTTP 401"):
            fetch_open_event_ids(url, "wrong")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(OpenEventsError, match="open-events"):
        fetch_open_event_ids(url, "tok", timeout_s=1)  # the service is down
