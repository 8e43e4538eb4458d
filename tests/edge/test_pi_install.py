"""Raspberry Pi install: the edge extra resolves to binary wheels for linux aarch64 (no torch), and the
install script and systemd unit are well-formed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "scripts" / "graffiti-edge.service"
INSTALL = REPO / "scripts" / "install_pi.sh"
# Raspberry Pi OS Bookworm has glibc 2.36: every manylinux tag up to 2_36 runs there.
AARCH64_PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{m}_aarch64" for m in range(17, 37)]
WHEEL_TAG = re.compile(r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


@pytest.mark.slow
@pytest.mark.parametrize("python_version", ["3.11", "3.13"], ids=["bookworm-py311", "trixie-py313"])
def test_edge_extra_resolves_to_aarch64_binary_wheels_without_torch(tmp_path: Path, python_version: str) -> None:
    # A dry-run install for the Pi's platform and Python: pip resolves the whole dependency tree with
    # --only-binary=:all: (reading wheel metadata from the index, without downloading whole wheels)
    # and reports the exact file it would install for each package.
    abi = "cp" + python_version.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "--abi", abi,
           *[f"--platform={p}" for p in AARCH64_PLATFORMS],
           "--target", str(tmp_path / "target"), "--report", str(tmp_path / "report.json"), f"{REPO}[edge]"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"the edge extra does not resolve to aarch64 wheels:\n{out.stderr[-3000:]}"
    report = json.loads((tmp_path / "report.json").read_text())
    names = {item["metadata"]["name"].lower().replace("_", "-"): item for item in report["install"]}
    assert {"onnxruntime", "opencv-python-headless", "numpy", "paho-mqtt"} <= set(names)
    assert not any(n.startswith(("torch", "nvidia-", "triton")) for n in names), sorted(names)
    for name, item in names.items():
        if name == "tunnel-graffiti-detector":
            continue  # this project itself: pure Python, built from the folder
        filename = item["download_info"]["url"].rsplit("/", 1)[-1]
        tag = WHEEL_TAG.search(filename)
        assert tag is not None, f"{name}: {filename} is not a wheel"
        plat = tag["plat"]
        assert plat == "any" or "aarch64" in plat, f"{name}: {filename} is not for aarch64"


def test_install_script_is_valid_bash() -> None:
    out = subprocess.run(["bash", "-n", str(INSTALL)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed on this machine (it is on Raspberry Pi OS)")
    # verify insists that ExecStart exists; the venv only exists on an installed Pi, so point it at true.
    unit = tmp_path / "graffiti-edge.service"
    unit.write_text(UNIT.read_text().replace("/opt/graffiti/venv/bin/graffiti", shutil.which("true") or "/bin/true"))
    out = subprocess.run([exe, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if unit.name in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("User", "graffiti"),
        ("ExecStart", "/opt/graffiti/venv/bin/graffiti edge run --config /etc/graffiti/edge.toml"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", None),  # exit 2 (bad model/config) is restarted too: the cause may pass
        ("KillSignal", "SIGTERM"),
        ("WorkingDirectory", "/var/lib/graffiti"),
    ],
    ids=["non-root", "runs-edge", "restarts-on-every-failure", "exit-2-restarted", "sigterm-flush", "data-dir"],
)
def test_systemd_unit_runs_the_edge_runner_safely(key: str, expected: str | None) -> None:
    assert _unit_settings().get(key) == (None if expected is None else [expected])


def test_systemd_unit_limits_restarts_to_avoid_a_crash_loop() -> None:
    s = _unit_settings()
    assert float(s["RestartSec"][0]) >= 5
    assert int(s["StartLimitBurst"][0]) <= 10 and int(s["StartLimitIntervalSec"][0]) >= 60
    assert int(s["TimeoutStopSec"][0]) >= 15  # time to finish the frame and flush the outbox
