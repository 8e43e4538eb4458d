"""The MQTT sink against a real mosquitto broker on 127.0.0.1 (marker: broker)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector.config import from_mapping
from detector.edge.delivery.config import DeliveryConfig, MqttSinkConfig
from detector.edge.delivery.mqtt import MqttSink, topic_part
from detector.edge.delivery.sender import Delivery, open_outbox
from detector.edge.delivery.sinks import TransientSinkError
from detector.events import Heartbeat
from tests.edge.conftest import Mosquitto, free_port, make_event, wait_until

pytestmark = pytest.mark.broker


class Subscriber:
    """A real paho subscriber at QoS 1 with a persistent session (survives a broker restart)."""

    def __init__(self, port: int, topic: str = "graffiti/#", client_id: str = "test-subscriber") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict[str, Any] | str, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.reconnect_delay_set(0.05, 0.2)

        def on_connect(c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
            c.subscribe(topic, qos=1)

        def on_subscribe(c: Any, u: Any, mid: Any, rcs: Any, props: Any) -> None:
            self.subscribed.set()

        def on_message(c: Any, u: Any, msg: Any) -> None:
            try:
                payload: dict[str, Any] | str = json.loads(msg.payload)
            except ValueError:
                payload = msg.payload.decode()
            with self.lock:
                self.messages.append((msg.topic, payload, bool(msg.retain)))

        self.client.on_connect, self.client.on_subscribe, self.client.on_message = on_connect, on_subscribe, on_message
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        if not self.subscribed.wait(5):
            raise RuntimeError("test subscriber got no SUBACK")

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(t, p) for t, p, _ in self.messages if isinstance(p, dict) and "camera" in p]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(broker: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port)
    yield sub
    sub.close()


def files_on_disk(tmp_path: Path, files: dict[str, bytes]) -> dict[str, Path]:
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    return {name: tmp_path / name for name in files}


def test_event_published_at_qos1_arrives_with_inline_evidence(tmp_path: Path, broker: Mosquitto, subscriber: Subscriber) -> None:
    sink = MqttSink(MqttSinkConfig(host="127.0.0.1", port=broker.port, timeout_s=5), device="tunnel-7")
    ev, files = make_event(camera="north/west")
    sink.send_event(ev.to_dict(), files_on_disk(tmp_path, files))  # returns only after PUBACK
    assert wait_until(lambda: len(subscriber.events()) == 1, 5.0)
    ((topic, payload),) = subscriber.events()
    assert topic == "graffiti/tunnel-7/north_west/graffiti_detected"
    assert payload["id"] == ev.id
    assert {n: base64.b64decode(b) for n, b in payload["evidence_b64"].items()} == files
    sink.close()  # a clean close says "offline" on the status topic (the last will says it on a crash)
    assert wait_until(lambda: [p for t, p, _ in subscriber.messages if t == "graffiti/tunnel-7/status"] == ["online", "offline"], 5.0)


def test_heartbeat_goes_to_the_device_heartbeat_topic_under_the_configured_prefix(broker: Mosquitto) -> None:
    sub = Subscriber(broker.port, topic="city/tunnels/#", client_id="hb-subscriber")
    try:
        sink = MqttSink(MqttSinkConfig(host="127.0.0.1", port=broker.port, topic_prefix="city/tunnels"), device="tunnel-7")
        sink.send_heartbeat(Heartbeat(device="tunnel-7", outbox_depth=2).to_dict())
        sink.close()
        assert wait_until(lambda: any(t == "city/tunnels/tunnel-7/heartbeat" for t, _, _ in sub.messages), 5.0)
        hb = next(p for t, p, _ in sub.messages if t.endswith("/heartbeat"))
        assert isinstance(hb, dict) and hb["outbox_depth"] == 2
    finally:
        sub.close()


def test_no_broker_is_a_transient_failure() -> None:
    sink = MqttSink(MqttSinkConfig(host="127.0.0.1", port=free_port(), timeout_s=2), device="tunnel-7")
    with pytest.raises(TransientSinkError, match="cannot connect"):
        sink.send_heartbeat({"device": "tunnel-7"})


def test_broker_down_then_up_delivers_every_event(tmp_path: Path, broker: Mosquitto, subscriber: Subscriber) -> None:
    cfg = from_mapping(DeliveryConfig, {
        "retry_initial_s": 0.05, "retry_max_s": 0.3,
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "timeout_s": 2},
    }, "delivery").resolved(tmp_path)
    outbox = open_outbox(cfg)
    delivery = Delivery(cfg, outbox, device="tunnel-7")
    broker.stop()
    delivery.start()
    ids = []
    for cam in ("north", "south", "east"):
        ev, files = make_event(camera=cam)
        outbox.put_event(ev, files)
        ids.append(ev.id)
    assert wait_until(lambda: any(i.attempts for i in outbox.due("mqtt", now=1e18)), 10.0), "sender never tried"
    assert outbox.depth() == 3
    broker.start()  # same port; the subscriber's persistent session comes back with it
    assert delivery.flush(20.0), outbox.counts()
    delivery.stop(5.0)
    assert wait_until(lambda: {p["id"] for _, p in subscriber.events()} >= set(ids), 10.0)
    topics = {t for t, _ in subscriber.events()}
    assert topics >= {f"graffiti/tunnel-7/{c}/graffiti_detected" for c in ("north", "south", "east")}


@pytest.mark.parametrize(("text", "expected"), [("north", "north"), ("a/b", "a_b"), ("x+#", "x__"), ("", "_")],
                         ids=["plain", "slash", "wildcards", "empty"])
def test_topic_levels_never_contain_separators_or_wildcards(text: str, expected: str) -> None:
    assert topic_part(text) == expected


def test_an_event_whose_picture_is_gone_is_published_naming_it(tmp_path: Path, broker: Mosquitto,
                                                              subscriber: Subscriber) -> None:
    cfg = from_mapping(DeliveryConfig, {
        "retry_initial_s": 0.05, "retry_max_s": 0.3,
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "timeout_s": 2},
    }, "delivery").resolved(tmp_path)
    outbox = open_outbox(cfg)
    ev, files = make_event()
    outbox.put_event(ev, files)
    (cfg.evidence_dir / ev.id / "crop.jpg").unlink()
    assert Delivery(cfg, outbox, device="tunnel-7").flush(10.0), outbox.counts()
    assert wait_until(lambda: any(p["id"] == ev.id for _, p in subscriber.events()), 10.0)
    (payload,) = [p for _, p in subscriber.events() if p["id"] == ev.id]
    assert payload["evidence"] == {"frame": "frame.jpg"} and payload["evidence_dropped"] == ["crop"]
    assert set(payload["evidence_b64"]) == {"frame.jpg"}
    assert base64.b64decode(payload["evidence_b64"]["frame.jpg"]) == files["frame.jpg"]
