#!/usr/bin/env bash
# Install the graffiti edge runner as a service on Raspberry Pi OS (64-bit, Bookworm or later).
#
#   sudo scripts/install_pi.sh [--token DEVICE_TOKEN] [--no-start]
#
# Run it from a checkout of this repository on the Pi. It:
#   1. installs python3-venv (apt) and creates the system user 'graffiti' (no login, in group 'video');
#   2. creates /opt/graffiti/venv and installs '.[edge]' only (onnxruntime, OpenCV, numpy, paho-mqtt;
#      never torch) — every dependency comes as a binary wheel for linux aarch64;
#   3. copies scripts/edge.example.toml to /etc/graffiti/edge.toml unless that file exists (an existing
#      config is never overwritten) and models/*.onnx to /var/lib/graffiti/models/;
#   4. writes the device token (--token, or $GRAFFITI_DEVICE_TOKEN) to /var/lib/graffiti/device.token
#      (mode 600), which delivery.http.token_file = "device.token" points at;
#   5. installs scripts/graffiti-edge.service into /etc/systemd/system, enables it and (re)starts it.
# Re-running it upgrades the software in place and keeps config, token, outbox and evidence.
set -euo pipefail

PREFIX=/opt/graffiti
VENV="$PREFIX/venv"
CONF_DIR=/etc/graffiti
DATA_DIR=/var/lib/graffiti
SERVICE=graffiti-edge
USER_NAME=graffiti
TOKEN="${GRAFFITI_DEVICE_TOKEN:-}"
START=1

while [ $# -gt 0 ]; do
    case "$1" in
        --token) TOKEN="${2:?--token needs a value}"; shift 2 ;;
        --no-start) START=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "install_pi.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install_pi.sh: run as root: sudo $0 $*" >&2
    exit 2
fi
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$REPO/pyproject.toml" ] || [ ! -f "$REPO/scripts/graffiti-edge.service" ]; then
    echo "install_pi.sh: $REPO does not look like the graffiti repository (no pyproject.toml)" >&2
    exit 2
fi
case "$(uname -m)" in
    aarch64|arm64) ;;
    *) echo "install_pi.sh: warning: this is $(uname -m), not a 64-bit Raspberry Pi OS (aarch64); continuing" >&2 ;;
esac

echo "==> system packages"
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv python3-pip
fi
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "install_pi.sh: Python $(python3 -V) is too old; Raspberry Pi OS Bookworm (Python 3.11) or later is needed" >&2
    exit 2
fi

echo "==> user $USER_NAME"
if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
usermod -a -G video "$USER_NAME"  # USB cameras (/dev/video*)

echo "==> folders"
install -d -m 755 "$PREFIX" "$CONF_DIR"
install -d -m 750 -o "$USER_NAME" -g "$USER_NAME" "$DATA_DIR" "$DATA_DIR/models"

echo "==> virtual environment $VENV with '.[edge]' only"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# --only-binary: never compile numpy/OpenCV/onnxruntime on the Pi (hours, and often fails); only our
# own pure-Python package (a local folder) is built here.
"$VENV/bin/python" -m pip install -q --upgrade --only-binary=:all: "$REPO[edge]"
if "$VENV/bin/python" -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("torch") else 1)'; then
    echo "install_pi.sh: torch ended up in $VENV; the edge runtime must not need it" >&2
    exit 1
fi
cp "$REPO/README.md" "$PREFIX/README.md" 2>/dev/null || true

echo "==> models"
shopt -s nullglob
for model in "$REPO"/models/*.onnx; do
    install -m 644 -o "$USER_NAME" -g "$USER_NAME" "$model" "$DATA_DIR/models/"
    for card in "${model%.onnx}".*; do
        [ "$card" != "$model" ] && install -m 644 -o "$USER_NAME" -g "$USER_NAME" "$card" "$DATA_DIR/models/"
    done
done
shopt -u nullglob

echo "==> config $CONF_DIR/edge.toml"
if [ -f "$CONF_DIR/edge.toml" ]; then
    echo "    kept the existing $CONF_DIR/edge.toml"
else
    # The example's model path is relative to the repository; point it at the installed copy.
    sed -e "s|^path = \"\.\./models/|path = \"$DATA_DIR/models/|" \
        -e "s|^data_dir = .*|data_dir = \"$DATA_DIR\"    # outbox database and evidence pictures live here|" \
        "$REPO/scripts/edge.example.toml" >"$CONF_DIR/edge.toml"
    chmod 640 "$CONF_DIR/edge.toml"
    chgrp "$USER_NAME" "$CONF_DIR/edge.toml"
    echo "    wrote $CONF_DIR/edge.toml from the example: edit [device], [cameras.*] and [delivery] now"
fi

if [ -n "$TOKEN" ]; then
    (umask 077 && printf '%s\n' "$TOKEN" >"$DATA_DIR/device.token")
    chown "$USER_NAME:$USER_NAME" "$DATA_DIR/device.token"
    chmod 600 "$DATA_DIR/device.token"
    echo "==> device token written to $DATA_DIR/device.token"
elif [ ! -f "$DATA_DIR/device.token" ]; then
    echo "    note: no device token yet; get one with 'graffiti review add-device' on the review server and"
    echo "    re-run with --token TOKEN (or write it to $DATA_DIR/device.token, owner $USER_NAME, mode 600)"
fi

echo "==> service $SERVICE"
install -m 644 "$REPO/scripts/graffiti-edge.service" "/etc/systemd/system/$SERVICE.service"
systemctl daemon-reload
systemctl enable "$SERVICE.service"
if [ "$START" -eq 1 ]; then
    if runuser -u "$USER_NAME" -- "$VENV/bin/graffiti" edge check-config "$CONF_DIR/edge.toml"; then
        systemctl restart "$SERVICE.service"
        echo "==> started; follow it with: journalctl -u $SERVICE -f"
        echo "    what waits to be sent: sudo -u $USER_NAME $VENV/bin/graffiti edge outbox list --config $CONF_DIR/edge.toml"
    else
        echo "==> $CONF_DIR/edge.toml has errors (above); fix them, then: sudo systemctl restart $SERVICE" >&2
    fi
else
    echo "==> enabled, not started (--no-start): sudo systemctl start $SERVICE"
fi
