# Shared by scripts/demo and scripts/test: create or reuse ./.venv and install the extras asked for.
# Usage: source scripts/_venv.sh; ensure_venv "edge,review"
# Re-installs only when pyproject.toml or the extras change (a stamp file records what was installed).

ensure_venv() {
    local extras="$1"
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local venv="${GRAFFITI_VENV:-$root/.venv}"
    local py="${PYTHON:-python3}"
    if [ ! -x "$venv/bin/python" ]; then
        echo "==> creating virtual environment $venv"
        "$py" -m venv "$venv"
    fi
    local stamp="$venv/.graffiti-installed"
    local want
    want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16) $extras"
    if [ ! -f "$stamp" ] || ! grep -qxF "$want" "$stamp"; then
        echo "==> installing .[${extras}] into $venv"
        "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
        if [[ ",$extras," == *",train,"* || ",$extras," == *",dev,"* ]]; then
            # torch builds known to work with torchvision here (see README, 'Machine notes').
            case "$(uname -m)" in
                x86_64) "$venv/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1" ;;
                aarch64) "$venv/bin/python" -m pip install -q "torch==2.9.1" "torchvision==0.24.1" ;;
            esac
        fi
        "$venv/bin/python" -m pip install -q -e "$root[$extras]"
        echo "$want" >"$stamp"
    fi
    export PATH="$venv/bin:$PATH"
    export VIRTUAL_ENV="$venv"
}

# Install Debian packages the tests need (a broker, a browser) when they are missing.
# Usage: ensure_apt mosquitto chromium
ensure_apt() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "==> installing system packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Start a throwaway PostgreSQL server for the review tests (Debian's `postgresql` package): a fresh
# cluster in a temporary folder, listening on 127.0.0.1 and a unix socket there, trust auth, stopped
# and deleted when the calling shell exits. Exports GRAFFITI_REVIEW_PG_URL (its maintenance
# database); the review tests make one database per site on it. As root, the cluster runs as the
# `postgres` user (PostgreSQL refuses to run as root). Without the package it says so and returns 0:
# the PostgreSQL cases of the review tests then skip with that reason.
# Usage: ensure_apt postgresql; start_test_postgres
start_test_postgres() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "==> no PostgreSQL server binaries (Debian package postgresql): review tests run on SQLite only"
        return 0
    fi
    local dir port
    dir="$(mktemp -d /tmp/graffiti-pg.XXXXXX)"
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
        chown postgres "$dir"
        as=(runuser -u postgres --)
    fi
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "==> starting a throwaway PostgreSQL ($("$bin/postgres" --version | awk '{print $3}')) on 127.0.0.1:$port"
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log"; return 1; }
    # fsync off: a test server's data need not survive a power cut, and it saves minutes on slow disks.
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
        || { cat "$dir/server.log"; return 1; }
    GRAFFITI_TEST_PG_DIR="$dir"
    GRAFFITI_TEST_PG_CTL=("${as[@]}" "$bin/pg_ctl")
    trap 'stop_test_postgres' EXIT
    export GRAFFITI_REVIEW_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}

stop_test_postgres() {
    if [ -n "${GRAFFITI_TEST_PG_DIR:-}" ] && [ -d "$GRAFFITI_TEST_PG_DIR" ]; then
        "${GRAFFITI_TEST_PG_CTL[@]}" -D "$GRAFFITI_TEST_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$GRAFFITI_TEST_PG_DIR"
    fi
}
