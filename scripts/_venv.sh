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
