"""Credentials: device tokens (stored as SHA-256), operator passwords (scrypt), signed session
cookies with a per-session CSRF token.

A signed-in cookie also carries a random session id whose SHA-256 is a row in the database
(``web_sessions``), checked on every request: a signature alone cannot be revoked, a row can
(sign-out, password change, user removal). The login limiter lives in the database too
(``store.reserve_login``), so several workers share it.

Device tokens are 32 random bytes, so a plain SHA-256 is enough to make a stolen database useless;
operator passwords are human-chosen and get a memory-hard KDF (scrypt) with a per-user salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
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
    sid: str | None = None  # signed-in sessions: the id whose SHA-256 is stored in web_sessions


def new_session(user: str | None) -> WebSession:
    return WebSession(user=user, csrf=secrets.token_urlsafe(24), issued_s=float(int(time.time())),
                      sid=secrets.token_urlsafe(32) if user else None)


def sign_session(sess: WebSession, secret: bytes) -> str:
    body = _b64(json.dumps({"u": sess.user, "c": sess.csrf, "t": int(sess.issued_s), "s": sess.sid}).encode())
    mac = _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())
    return f"{body}.{mac}"


def read_session(cookie: str | None, secret: bytes, max_age_s: int) -> WebSession | None:
    """The session in ``cookie`` if its signature is ours and it has not expired, else None."""
    if not cookie or "." not in cookie or not cookie.isascii():
        return None
    body, mac = cookie.rsplit(".", 1)
    want = _b64(hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, want):
        return None
    try:
        data: dict[str, Any] = json.loads(_unb64(body))
        sess = WebSession(user=data["u"], csrf=str(data["c"]), issued_s=float(data["t"]), sid=data.get("s"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if time.time() - sess.issued_s > max_age_s:
        return None
    return sess


def csrf_ok(sess: WebSession | None, submitted: str | None) -> bool:
    return bool(sess and submitted and hmac.compare_digest(sess.csrf, submitted))
