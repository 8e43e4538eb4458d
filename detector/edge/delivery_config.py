"""Config of the durable outbox and of the sinks it delivers to (the ``delivery`` table of edge.toml).

Kept apart from the rest of the edge config so the outbox/sender can be configured and tested on
its own. Relative paths are resolved against the edge runner's data directory by ``resolved()``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from detector.config import check_range
from detector.errors import ConfigError

_TOPIC_PREFIX = re.compile(r"^[^#+\x00]+$")
_TOKEN = re.compile(r"^[!#-&(-~]+$")  # visible ASCII, no spaces or quotes: it goes into an HTTP header


def _dot(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@dataclass
class HttpSinkConfig:
    """POST events/heartbeats to the review service (``url`` is its base, e.g. http://review:8000)."""

    url: str
    token: str = ""  # the device token issued by the review service; empty → read token_file
    token_file: Path | None = None  # a file holding the token (keeps secrets out of edge.toml)
    timeout_s: float = 15.0  # per request (connect + upload + answer)
    heartbeats: bool = True  # also POST heartbeats to /api/v1/heartbeats

    def validate(self, prefix: str) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{_dot(prefix, 'url')}: expected an http:// or https:// URL, found {self.url!r}")
        try:
            port_ok = parts.port != 0  # urlsplit checks the port only when asked
        except ValueError:
            port_ok = False
        if not port_ok:
            raise ConfigError(
                f"{_dot(prefix, 'url')}: expected a port number in [1, 65535] after the host, found {self.url!r}"
            )
        if not self.token and self.token_file is None:
            raise ConfigError(f"{_dot(prefix, 'token')}: expected the device token (or token_file), found nothing")
        if self.token and not _TOKEN.fullmatch(self.token):
            raise ConfigError(f"{_dot(prefix, 'token')}: expected the token alone, without spaces, quotes or line breaks")
        check_range(self.timeout_s, _dot(prefix, "timeout_s"), 0.1, 600)

    def read_token(self) -> str:
        """The bearer token: ``token`` or the stripped contents of ``token_file`` (read at start-up)."""
        if self.token or self.token_file is None:
            return self.token
        try:
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"delivery.http.token_file: cannot read {self.token_file} ({exc.strerror})") from None
        if not token:
            raise ConfigError(f"delivery.http.token_file: {self.token_file} is empty; expected the device token")
        if not _TOKEN.fullmatch(token):
            raise ConfigError(f"delivery.http.token_file: {self.token_file} must hold the token alone on one line "
                              "(no spaces, quotes or other text)")
        return token


@dataclass
class MqttSinkConfig:
    """Publish to an MQTT broker at QoS 1 (topic ``<topic_prefix>/<device>/<camera>/<type>``)."""

    host: str
    port: int = 1883
    topic_prefix: str = "graffiti"
    qos: int = 1
    client_id: str = ""  # empty → "graffiti-edge-<device>"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None  # CA bundle for TLS; None → the system's
    keepalive_s: int = 60
    timeout_s: float = 15.0  # connect and wait-for-PUBACK limit per message
    inline_evidence: bool = True  # evidence JPEGs base64-inlined in the payload (key evidence_b64)
    heartbeats: bool = True  # also publish heartbeats to <topic_prefix>/<device>/heartbeat

    def validate(self, prefix: str) -> None:
        if not self.host:
            raise ConfigError(f"{_dot(prefix, 'host')}: expected a broker host name, found ''")
        check_range(self.port, _dot(prefix, "port"), 1, 65535)
        if not _TOPIC_PREFIX.match(self.topic_prefix) or self.topic_prefix.startswith("/") or self.topic_prefix.endswith("/"):
            raise ConfigError(
                f"{_dot(prefix, 'topic_prefix')}: expected a topic without '#', '+' or leading/trailing '/', "
                f"found {self.topic_prefix!r}"
            )
        if self.qos not in (1, 2):
            raise ConfigError(f"{_dot(prefix, 'qos')}: expected 1 or 2 (delivery must be acknowledged), found {self.qos!r}")
        if self.ca_file is not None and not self.tls:
            raise ConfigError(f"{_dot(prefix, 'ca_file')}: only used with tls = true; set tls = true or remove it")
        if self.password is not None and self.username is None:
            raise ConfigError(f"{_dot(prefix, 'username')}: expected a user name when a password is set, found nothing")
        check_range(self.keepalive_s, _dot(prefix, "keepalive_s"), 5, 3600)
        check_range(self.timeout_s, _dot(prefix, "timeout_s"), 0.1, 600)


@dataclass
class LocalSinkConfig:
    """Write each event (JSON + evidence) into a folder; the offline / no-network mode."""

    dir: Path
    max_disk_mb: float | None = 1024.0  # past this the oldest event folders go first; 0 (or None) → never pruned

    def validate(self, prefix: str) -> None:
        if self.max_disk_mb:
            check_range(self.max_disk_mb, _dot(prefix, "max_disk_mb"), 1, None)


@dataclass
class DeliveryConfig:
    """The durable outbox and where it delivers to. At least one sink is normally configured."""

    outbox_path: Path = Path("outbox/outbox.sqlite3")
    evidence_dir: Path = Path("outbox/evidence")
    max_disk_mb: float = 512.0  # hard cap on outbox DB + evidence files
    keep_delivered_days: float = 7.0  # delivered events (and their evidence) are kept this long at most
    retry_initial_s: float = 2.0  # first retry delay; doubles per failure (full jitter)
    retry_max_s: float = 300.0  # the retry delay never exceeds this
    parked_retry_s: float = 3600.0  # an item the receiver rejected is tried again after this; doubles each time
    parked_retry_max_s: float = 86400.0  # ... up to this (parked items go after keep_delivered_days)
    http: HttpSinkConfig | None = None
    mqtt: MqttSinkConfig | None = None
    local: LocalSinkConfig | None = None

    def validate(self, prefix: str) -> None:
        check_range(self.max_disk_mb, _dot(prefix, "max_disk_mb"), 1, None)
        check_range(self.keep_delivered_days, _dot(prefix, "keep_delivered_days"), 0, 3650)
        check_range(self.retry_initial_s, _dot(prefix, "retry_initial_s"), 0.01, 3600)
        check_range(self.retry_max_s, _dot(prefix, "retry_max_s"), self.retry_initial_s, 86400)
        check_range(self.parked_retry_s, _dot(prefix, "parked_retry_s"), 1, 30 * 86400)
        check_range(self.parked_retry_max_s, _dot(prefix, "parked_retry_max_s"), self.parked_retry_s, 365 * 86400)
        if self.outbox_path.suffix == "" or self.outbox_path.name in ("", "."):
            raise ConfigError(f"{_dot(prefix, 'outbox_path')}: expected a file path, found {str(self.outbox_path)!r}")

    def sink_names(self) -> list[str]:
        """Names of the configured sinks, in a stable order (they key the outbox's delivery rows)."""
        return [name for name in ("http", "mqtt", "local") if getattr(self, name) is not None]

    def resolved(self, data_dir: Path) -> DeliveryConfig:
        """A copy with relative paths made absolute under ``data_dir`` (the runner's data directory)."""
        base = Path(data_dir)

        def fix(p: Path) -> Path:
            p = p.expanduser()
            return p if p.is_absolute() else base / p

        local = self.local
        if local is not None:
            local = dataclasses.replace(local, dir=fix(local.dir))
        http = self.http
        if http is not None and http.token_file is not None:
            http = dataclasses.replace(http, token_file=fix(http.token_file))
        mqtt = self.mqtt
        if mqtt is not None and mqtt.ca_file is not None:
            mqtt = dataclasses.replace(mqtt, ca_file=fix(mqtt.ca_file))
        return dataclasses.replace(
            self, outbox_path=fix(self.outbox_path), evidence_dir=fix(self.evidence_dir), local=local, http=http,
            mqtt=mqtt,
        )
