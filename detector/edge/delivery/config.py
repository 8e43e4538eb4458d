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

from detector.config import rule_error, setting
from detector.errors import ConfigError

TOKEN_PATTERN = r"[!#-&(-~]+"  # visible ASCII, no spaces or quotes: it goes into an HTTP header
_TOKEN = re.compile(TOKEN_PATTERN)
# A topic level text: no wildcards, no NUL, no leading or trailing '/'.
TOPIC_PREFIX_PATTERN = r"[^#+\x00/]([^#+\x00]*[^#+\x00/])?"


def _dot(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@dataclass
class HttpSinkConfig:
    """POST events/heartbeats to the review service (``url`` is its base, e.g. http://review:8000)."""

    url: str = setting(expect="an http:// or https:// URL", doc="the review service's base URL")
    token: str = setting("", pattern=f"({TOKEN_PATTERN})?", secret=True,
                         expect="the token alone, without spaces, quotes or line breaks",
                         doc="the device token issued by the review service; empty → read token_file")
    token_file: Path | None = setting(None, doc="a file holding the token (keeps secrets out of edge.toml)")
    timeout_s: float = setting(15.0, ge=0.1, le=600, doc="per request (connect + upload + answer)")
    heartbeats: bool = setting(True, doc="also POST heartbeats to /api/v1/heartbeats")

    def validate(self, prefix: str) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise rule_error(self, "url", prefix, found=repr(self.url))
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

    host: str = setting(expect="a broker host name", doc="the broker")
    port: int = setting(1883, ge=1, le=65535)
    topic_prefix: str = setting("graffiti", pattern=TOPIC_PREFIX_PATTERN,
                                expect="a topic without '#', '+' or leading/trailing '/'")
    qos: int = setting(1, choices=(1, 2), expect="1 or 2 (delivery must be acknowledged)")
    client_id: str = setting("", doc="empty → \"graffiti-edge-<device>\"")
    username: str | None = setting(None, expect="a user name when a password is set")
    password: str | None = setting(None, secret=True)
    tls: bool = setting(False)
    ca_file: Path | None = setting(None, expect="only used with tls = true", doc="CA bundle for TLS; None → the system's")
    keepalive_s: int = setting(60, ge=5, le=3600)
    timeout_s: float = setting(15.0, ge=0.1, le=600, doc="connect and wait-for-PUBACK limit per message")
    inline_evidence: bool = setting(True, doc="evidence JPEGs base64-inlined in the payload (key evidence_b64)")
    heartbeats: bool = setting(True, doc="also publish heartbeats to <topic_prefix>/<device>/heartbeat")

    def validate(self, prefix: str) -> None:
        if not self.host:
            raise rule_error(self, "host", prefix, found="''")
        if self.ca_file is not None and not self.tls:
            raise ConfigError(f"{_dot(prefix, 'ca_file')}: only used with tls = true; set tls = true or remove it")
        if self.password is not None and self.username is None:
            raise rule_error(self, "username", prefix, found="nothing")


@dataclass
class LocalSinkConfig:
    """Write each event (JSON + evidence) into a folder; the offline / no-network mode."""

    dir: Path = setting(doc="the folder (relative to device.data_dir)")
    max_disk_mb: float | None = setting(1024.0, expect="0 or nothing (never pruned), or a number >= 1",
                                        doc="past this the oldest event folders go first; 0 (or None) → never pruned")

    def validate(self, prefix: str) -> None:
        if self.max_disk_mb and not self.max_disk_mb >= 1:  # NaN too
            raise rule_error(self, "max_disk_mb", prefix, found=f"{self.max_disk_mb:g}")


@dataclass
class DeliveryConfig:
    """The durable outbox and where it delivers to. At least one sink is normally configured."""

    outbox_path: Path = setting(Path("outbox/outbox.sqlite3"), expect="a file path",
                                doc="the outbox database (relative to device.data_dir)")
    evidence_dir: Path = setting(Path("outbox/evidence"), doc="evidence pictures waiting for delivery")
    max_disk_mb: float = setting(512.0, ge=1, doc="hard cap on outbox DB + evidence files")
    keep_delivered_days: float = setting(7.0, ge=0, le=3650,
                                         doc="delivered events (and their evidence) are kept this long at most")
    retry_initial_s: float = setting(2.0, ge=0.01, le=3600,
                                     doc="first retry delay; doubles per failure (full jitter)")
    retry_max_s: float = setting(300.0, ge="retry_initial_s", le=86400, doc="the retry delay never exceeds this")
    parked_retry_s: float = setting(3600.0, ge=1, le=30 * 86400, doc="an item the receiver rejected is tried "
                                    "again after this; doubles each time")
    parked_retry_max_s: float = setting(86400.0, ge="parked_retry_s", le=365 * 86400,
                                        doc="... up to this (parked items go after keep_delivered_days)")
    http: HttpSinkConfig | None = setting(None)
    mqtt: MqttSinkConfig | None = setting(None)
    local: LocalSinkConfig | None = setting(None)

    def validate(self, prefix: str) -> None:
        if self.outbox_path.suffix == "" or self.outbox_path.name in ("", "."):
            raise rule_error(self, "outbox_path", prefix, found=repr(str(self.outbox_path)))

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
