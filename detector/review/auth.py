"""Credentials: device tokens (stored as SHA-256), operator passwords (scrypt), signed session
cookies with a per-session CSRF token, and the login rate limiter.

Device tokens are 32 random bytes, so a plain SHA-256 is enough to make a stolen database useless;
operator passwords are human-chosen and get a memory-hard KDF (scrypt) with a per-user salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

TOKEN_PREFIX = "grd_"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LEN = 8


def new_device_token() -> str:
    """A fresh device token (shown once, never stored in clear)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` so the cost can be raised later without breaking old hashes."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


# A password hash to check against when the user does not exist, so timing does not reveal names.
DUMMY_PASSWORD_HASH = hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class WebSession:
    """What the signed cookie carries: the signed-in user (or None before sign-in) and the CSRF token."""

    user: str | None
    csrf: str
    issued_s: float


def new_session(user: str | None) -> WebSession:
    return WebSession(user=user, csrf=secrets.token_urlsafe(24), issued_s=float(int(time.time())))


def sign_session(sess: WebSession, secret: bytes) -> str:
    body = _b64(json.dumps({"u": sess.user, "c": sess.csrf, "t": int(sess.issued_s)}).encode())
    mac = _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())
    return f"{body}.{mac}"


def read_session(cookie: str | None, secret: bytes, max_age_s: int) -> WebSession | None:
    """The session in ``cookie`` if its signature is ours and it has not expired, else None."""
    if not cookie or "." not in cookie:
        return None
    body, mac = cookie.rsplit(".", 1)
    want = _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, want):
        return None
    try:
        data: dict[str, Any] = json.loads(_unb64(body))
        sess = WebSession(user=data["u"], csrf=str(data["c"]), issued_s=float(data["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    if time.time() - sess.issued_s > max_age_s:
        return None
    return sess


def csrf_ok(sess: WebSession | None, submitted: str | None) -> bool:
    return bool(sess and submitted and hmac.compare_digest(sess.csrf, submitted))


class LoginLimiter:
    """Failed sign-ins per (client IP, user name) in a sliding window; in memory, per process
    (the service runs as one process; a restart forgets, which only helps a locked-out operator)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after_s(self, ip: str, user: str) -> float:
        """Seconds until another try is allowed (0 when allowed now). Besides the per-user limit, one
        address gets ``IP_FACTOR`` times as many failures over all names (a spray of user names)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in (((ip, user.lower()), self.max_failures), ((ip, "*"), self.max_failures * self.IP_FACTOR)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = max(wait, self.window_s - (now - q[len(q) - limit]))
        return max(0.0, wait)

    IP_FACTOR = 6

    def record_failure(self, ip: str, user: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in ((ip, user.lower()), (ip, "*")):
                self._recent(key, now).append(now)
            if len(self._failures) > 10000:  # bound memory under a spray of names
                self._failures = {k: v for k, v in self._failures.items() if v}

    def reset(self, ip: str, user: str) -> None:
        with self._lock:
            self._failures.pop((ip, user.lower()), None)
