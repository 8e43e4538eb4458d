"""The ``delivery`` config table: strict keys, ranges named by key path, path resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detector.config import from_mapping, read_config_file
from detector.edge.delivery.config import DeliveryConfig, HttpSinkConfig
from detector.errors import ConfigError

HTTP = {"url": "http://review.local:8000", "token": "abc"}


def load(data: dict[str, Any]) -> DeliveryConfig:
    return from_mapping(DeliveryConfig, data, "delivery")


def test_defaults_have_no_sink_and_a_bounded_outbox() -> None:
    cfg = load({})
    assert cfg.sink_names() == []
    assert cfg.max_disk_mb > 0 and cfg.retry_initial_s <= cfg.retry_max_s


def test_full_toml_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        '[delivery]\nmax_disk_mb = 64\n'
        '[delivery.http]\nurl = "https://review.example.org"\ntoken_file = "/etc/graffiti/token"\n'
        '[delivery.mqtt]\nhost = "broker"\ntopic_prefix = "city/tunnels"\nusername = "edge"\npassword = "pw"\n'
        '[delivery.local]\ndir = "events"\n'
    )
    cfg = load(read_config_file(path)["delivery"])
    assert cfg.sink_names() == ["http", "mqtt", "local"]
    assert cfg.mqtt is not None and cfg.mqtt.qos == 1 and cfg.mqtt.port == 1883
    resolved = cfg.resolved(Path("/var/lib/graffiti"))
    assert resolved.outbox_path == Path("/var/lib/graffiti/outbox/outbox.sqlite3")
    assert resolved.local is not None and resolved.local.dir == Path("/var/lib/graffiti/events")
    assert resolved.http is not None and resolved.http.token_file == Path("/etc/graffiti/token")  # absolute stays


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"max_disk_mb": 0}, "delivery.max_disk_mb"),
        ({"retry_initial_s": 10, "retry_max_s": 5}, "delivery.retry_max_s"),
        ({"retry_initial_s": "fast"}, "delivery.retry_initial_s"),
        ({"outbox_path": "outbox/"}, "delivery.outbox_path"),
        ({"colour": "red"}, "delivery.colour"),
        ({"http": {"url": "ftp://x", "token": "t"}}, "delivery.http.url"),
        ({"http": {"url": "http://x"}}, "delivery.http.token"),
        ({"http": {**HTTP, "timeout_s": 0}}, "delivery.http.timeout_s"),
        ({"http": {**HTTP, "tokn": "x"}}, "delivery.http.tokn"),
        ({"mqtt": {"host": "b", "qos": 0}}, "delivery.mqtt.qos"),
        ({"mqtt": {"host": "b", "port": 70000}}, "delivery.mqtt.port"),
        ({"mqtt": {"host": "b", "topic_prefix": "a/#"}}, "delivery.mqtt.topic_prefix"),
        ({"mqtt": {"host": "b", "topic_prefix": "/abs"}}, "delivery.mqtt.topic_prefix"),
        ({"mqtt": {"host": "b", "password": "pw"}}, "delivery.mqtt.username"),
        ({"mqtt": {"host": ""}}, "delivery.mqtt.host"),
        ({"mqtt": {"port": 1883}}, "delivery.mqtt.host"),
        ({"local": {"dir": "x", "max_disk_mb": 0.5}}, "delivery.local.max_disk_mb"),
        ({"http": {**HTTP, "url": "http://review.local:99999"}}, "delivery.http.url: expected a port"),
        ({"http": {**HTTP, "url": "http://review.local:http"}}, "delivery.http.url: expected a port"),
        ({"http": {**HTTP, "url": "http://review.local:0"}}, "delivery.http.url: expected a port"),
        ({"mqtt": {"host": "b", "ca_file": "ca.pem"}}, "delivery.mqtt.ca_file"),
        ({"max_disk_mb": float("nan")}, "delivery.max_disk_mb"),
        ({"http": {**HTTP, "token": "grd_abc "}}, "delivery.http.token: expected the token alone"),
        ({"http": {**HTTP, "token": "Bearer grd_abc"}}, "delivery.http.token: expected the token alone"),
        ({"http": {**HTTP, "token": "grd_abc\n"}}, "delivery.http.token: expected the token alone"),
        ({"mqtt": {"host": "b", "timeout_s": float("nan")}}, "delivery.mqtt.timeout_s"),
    ],
    ids=["cap-zero", "retry-max-below-initial", "retry-not-number", "outbox-not-file", "unknown-key", "http-scheme",
         "http-no-token", "http-timeout", "http-unknown-key", "mqtt-qos0", "mqtt-port", "mqtt-wildcard-prefix",
         "mqtt-leading-slash", "mqtt-password-without-user", "mqtt-empty-host", "mqtt-missing-host", "local-cap",
         "http-port-out-of-range", "http-port-not-a-number", "http-port-zero", "mqtt-ca-file-without-tls",
         "cap-nan", "mqtt-timeout-nan", "token-trailing-space", "token-with-bearer", "token-newline"],
)
def test_bad_values_name_the_key_path(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load(data)


def test_missing_token_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    cfg = HttpSinkConfig(url="http://x", token_file=tmp_path / "nope")
    with pytest.raises(ConfigError, match="delivery.http.token_file: cannot read .*nope"):
        cfg.read_token()


def test_empty_token_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        HttpSinkConfig(url="http://x", token_file=tmp_path / "token").read_token()


def test_mqtt_ca_file_is_resolved_under_the_data_dir() -> None:
    cfg = load({"mqtt": {"host": "b", "tls": True, "ca_file": "certs/ca.pem"}}).resolved(Path("/var/lib/graffiti"))
    assert cfg.mqtt is not None and cfg.mqtt.ca_file == Path("/var/lib/graffiti/certs/ca.pem")


def test_missing_mqtt_ca_file_is_a_config_error_at_start_not_a_retry_loop(tmp_path: Path) -> None:
    pytest.importorskip("paho.mqtt.client")
    from detector.edge.delivery.mqtt import MqttSink

    cfg = load({"mqtt": {"host": "b", "tls": True, "ca_file": str(tmp_path / "nope.pem")}})
    assert cfg.mqtt is not None
    with pytest.raises(ConfigError, match=r"delivery\.mqtt\.ca_file: .*nope\.pem is not a readable file"):
        MqttSink(cfg.mqtt, "tunnel-7")


def test_token_file_with_more_than_the_token_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("device 'pi' may report: north\ngrd_abc\n")
    with pytest.raises(ConfigError, match="must hold the token alone on one line"):
        HttpSinkConfig(url="http://x", token_file=tmp_path / "token").read_token()


def test_token_file_with_a_trailing_newline_reads_the_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("grd_abc-DEF_123\n")
    assert HttpSinkConfig(url="http://x", token_file=tmp_path / "token").read_token() == "grd_abc-DEF_123"
