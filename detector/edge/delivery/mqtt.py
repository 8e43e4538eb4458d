"""MQTT sink (paho-mqtt v2 API): events at QoS 1, confirmed only after the broker's PUBACK.

Topics: events go to ``<prefix>/<device>/<camera>/<type>``, heartbeats to ``<prefix>/<device>/heartbeat``,
and ``<prefix>/<device>/status`` holds a retained ``online``/``offline`` (offline is the broker-sent
last will, so a dead device shows up). The payload is the event JSON; with ``inline_evidence`` the
evidence JPEGs ride along base64-encoded under ``evidence_b64`` ({file name: base64}), so one message is
one complete, self-contained event (a 1280×720 frame + crop is ~100–300 kB, far below broker limits).

MQTT QoS 1 is at-least-once: if the PUBACK is lost the event is published again; subscribers
deduplicate by the event ``id``. After a publish that timed out, the client is torn down (clean
session) so paho does not also resend it from its own memory.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.edge.delivery.config import MqttSinkConfig
from detector.edge.delivery.sinks import TransientSinkError
from detector.errors import ConfigError, require

if TYPE_CHECKING:  # paho is imported when an MQTT sink is configured, not before
    from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode


def topic_part(text: str) -> str:
    """One topic level: MQTT wildcards and separators are replaced by '_'."""
    cleaned = "".join("_" if c in "/+#\x00" else c for c in text)
    return cleaned or "_"


class MqttSink:
    """Publish events and heartbeats to one broker; reconnects lazily on the next send."""

    name = "mqtt"

    def __init__(self, config: MqttSinkConfig, device: str) -> None:
        self._mqtt: Any = require("paho.mqtt.client", "edge")
        if config.tls and config.ca_file is not None and not config.ca_file.is_file():
            raise ConfigError(f"delivery.mqtt.ca_file: {config.ca_file} is not a readable file; expected a CA bundle (PEM)")
        self.config = config
        self.device = device
        self.base = f"{config.topic_prefix}/{topic_part(device)}"
        self.status_topic = f"{self.base}/status"
        self._client: Client | None = None
        self._connected = threading.Event()
        self._connect_rc = ""

    def event_topic(self, event: dict[str, Any]) -> str:
        return f"{self.base}/{topic_part(str(event['camera']))}/{topic_part(str(event['type']))}"

    def send_event(self, event: dict[str, Any], files: dict[str, Path]) -> None:
        payload = dict(event)
        if self.config.inline_evidence:
            payload["evidence_b64"] = {
                name: base64.b64encode(path.read_bytes()).decode("ascii") for name, path in files.items() if path.exists()
            }
        self._publish(self.event_topic(event), json.dumps(payload, separators=(",", ":")).encode(), f"event {event.get('id')}")

    def send_heartbeat(self, heartbeat: dict[str, Any]) -> None:
        self._publish(f"{self.base}/heartbeat", json.dumps(heartbeat, separators=(",", ":")).encode(), "heartbeat")

    # ------------------------------------------------------------------ connection
    def _ensure_client(self) -> Client:
        if self._client is not None and self._client.is_connected():
            return self._client
        self._teardown()
        mqtt = self._mqtt
        cfg = self.config
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"graffiti-edge-{topic_part(self.device)}",
            clean_session=True,
            reconnect_on_failure=False,
        )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            client.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.connect_timeout = cfg.timeout_s
        self._connected.clear()
        self._connect_rc = ""

        def on_connect(_c: Client, _u: Any, _flags: ConnectFlags, reason_code: ReasonCode,
                       _props: Properties | None) -> None:
            self._connect_rc = str(reason_code)
            if not reason_code.is_failure:
                self._connected.set()

        def on_disconnect(_c: Client, _u: Any, _flags: DisconnectFlags, reason_code: ReasonCode,
                          _props: Properties | None) -> None:
            self._connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        where = f"mqtt://{cfg.host}:{cfg.port}"
        try:
            client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except (OSError, ValueError) as exc:
            raise TransientSinkError(f"{where}: cannot connect ({type(exc).__name__}: {exc})") from None
        client.loop_start()
        self._client = client
        if not self._connected.wait(cfg.timeout_s):
            rc = self._connect_rc
            self._teardown()
            if rc:  # the broker answered and refused: credentials or client id
                raise TransientSinkError(f"{where}: broker refused the connection ({rc})", config_problem=True)
            raise TransientSinkError(f"{where}: no CONNACK within {cfg.timeout_s:g} s")
        client.publish(self.status_topic, "online", qos=1, retain=True)
        return client

    def _publish(self, topic: str, payload: bytes, what: str) -> None:
        client = self._ensure_client()
        info = client.publish(topic, payload, qos=self.config.qos)
        try:
            info.wait_for_publish(self.config.timeout_s)
        except (ValueError, RuntimeError) as exc:
            self._teardown()
            raise TransientSinkError(f"mqtt publish {what} to {topic}: {exc}") from None
        if not info.is_published():
            self._teardown()
            raise TransientSinkError(f"mqtt publish {what} to {topic}: no PUBACK within {self.config.timeout_s:g} s")

    def _teardown(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.disconnect()
        finally:
            client.loop_stop()

    def close(self) -> None:
        """Say ``offline`` (retained) and disconnect cleanly."""
        client = self._client
        if client is not None and client.is_connected():
            with contextlib.suppress(ValueError, RuntimeError):
                client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(2.0)
        self._teardown()
