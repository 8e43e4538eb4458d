"""The HTTP sink against a real local receiver: multipart upload, token, and what each answer means."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.edge.delivery.config import HttpSinkConfig
from detector.edge.delivery.sinks import HttpSink, PermanentSinkError, TransientSinkError, multipart_body
from tests.edge.conftest import free_port, make_event
from tests.edge.receiver import ReviewReceiver


def stored_files(tmp_path: Path, files: dict[str, bytes]) -> dict[str, Path]:
    out = {}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
        out[name] = tmp_path / name
    return out


def test_event_arrives_with_its_evidence_and_token(tmp_path: Path, receiver: ReviewReceiver) -> None:
    sink = HttpSink(HttpSinkConfig(url=receiver.url, token=receiver.token))
    ev, files = make_event()
    sink.send_event(ev.to_dict(), stored_files(tmp_path, files))
    assert receiver.events[ev.id]["camera"] == "north"
    assert receiver.files[ev.id] == files


def test_replayed_event_is_a_duplicate_and_counts_as_delivered(tmp_path: Path, receiver: ReviewReceiver) -> None:
    sink = HttpSink(HttpSinkConfig(url=receiver.url, token=receiver.token))
    ev, files = make_event()
    paths = stored_files(tmp_path, files)
    sink.send_event(ev.to_dict(), paths)
    sink.send_event(ev.to_dict(), paths)  # 200 duplicate: no exception
    assert receiver.creates[ev.id] == 1 and receiver.duplicates == 1


def test_heartbeat_is_posted_as_json(receiver: ReviewReceiver) -> None:
    sink = HttpSink(HttpSinkConfig(url=receiver.url, token=receiver.token))
    sink.send_heartbeat({"device": "tunnel-7", "outbox_depth": 3})
    assert receiver.heartbeats == [{"device": "tunnel-7", "outbox_depth": 3}]


def test_token_is_read_from_token_file(tmp_path: Path, receiver: ReviewReceiver) -> None:
    (tmp_path / "token").write_text(receiver.token + "\n")
    sink = HttpSink(HttpSinkConfig(url=receiver.url, token_file=tmp_path / "token"))
    sink.send_heartbeat({"device": "x"})
    assert len(receiver.heartbeats) == 1


@pytest.mark.parametrize(
    ("status", "headers", "error", "config_problem", "retry_after_s"),
    [
        (500, {}, TransientSinkError, False, None),
        (503, {"Retry-After": "7"}, TransientSinkError, False, 7.0),
        (408, {}, TransientSinkError, False, None),
        (429, {"Retry-After": "3"}, TransientSinkError, False, 3.0),
        (401, {}, TransientSinkError, True, None),
        (404, {}, TransientSinkError, True, None),
        (413, {}, PermanentSinkError, None, None),
        (422, {}, PermanentSinkError, None, None),
        (400, {}, PermanentSinkError, None, None),
    ],
    ids=["500-retry", "503-retry-after", "408-retry", "429-retry-after", "401-config-retry", "404-config-retry",
         "413-park", "422-park", "400-park"],
)
def test_http_status_decides_retry_or_park(tmp_path: Path, receiver: ReviewReceiver, status: int, headers: dict[str, str],
                                           error: type[Exception], config_problem: bool | None, retry_after_s: float | None) -> None:
    sink = HttpSink(HttpSinkConfig(url=receiver.url, token=receiver.token))
    receiver.fail_next.append((status, headers))
    ev, files = make_event()
    with pytest.raises(error, match=f"HTTP {status}") as info:
        sink.send_event(ev.to_dict(), stored_files(tmp_path, files))
    if isinstance(info.value, TransientSinkError):
        assert info.value.config_problem is config_problem
        assert info.value.retry_after_s == retry_after_s
    assert ev.id not in receiver.events


def test_wrong_token_is_a_retryable_config_problem(tmp_path: Path, receiver: ReviewReceiver) -> None:
    sink = HttpSink(HttpSinkConfig(url=receiver.url, token="wrong"))
    with pytest.raises(TransientSinkError, match="device token") as info:
        sink.send_heartbeat({"device": "x"})
    assert info.value.config_problem


def test_server_down_is_transient() -> None:
    sink = HttpSink(HttpSinkConfig(url=f"http://127.0.0.1:{free_port()}", token="t", timeout_s=2))
    with pytest.raises(TransientSinkError, match="ConnectionRefused"):
        sink.send_heartbeat({"device": "x"})


def test_multipart_body_parses_back_with_the_stdlib_email_parser() -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    body, ctype = multipart_body({"event": json.dumps({"id": "x"})}, {"a.jpg": b"\x00\xff\r\n--tricky", "b.png": b"p"})
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    parts = [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_payload(decode=True))
             for p in msg.iter_parts()]
    assert parts == [("event", None, b'{"id": "x"}'), ("files", "a.jpg", b"\x00\xff\r\n--tricky"), ("files", "b.png", b"p")]
