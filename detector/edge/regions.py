"""Accepted and rejected regions from the review service (GET /api/v1/accepted-regions?camera=NAME,
GET /api/v1/rejected-regions?camera=NAME).

An operator who accepts a region (a permitted mural, a tag already reported) should not hear about
it again; a rejected alert's box takes the current wall as its baseline and stays quiet until it
changes again. The device polls the review service with stdlib urllib; a failed poll is logged and
retried later — it never stops detection, and the last good answer stays in force.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

log = logging.getLogger("detector.edge.regions")

Polygon = list[tuple[float, float]]


class RegionsError(Exception):
    """A poll failed (network, HTTP status, or a malformed answer); the message says which."""


@dataclass(frozen=True)
class AcceptedRegion:
    id: int
    camera: str
    polygon: Polygon
    note: str = ""


def parse_regions(payload: object, camera: str) -> list[AcceptedRegion]:
    """Check the JSON answer; raise RegionsError naming the bad item."""
    if not isinstance(payload, list):
        raise RegionsError("expected a JSON list of regions")
    out = []
    for i, item in enumerate(payload):
        if not isinstance(item, dict):
            raise RegionsError(f"[{i}]: expected an object")
        poly = item.get("polygon")
        if (
            not isinstance(poly, list)
            or len(poly) < 3
            or not all(isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) for v in p) for p in poly)
        ):
            raise RegionsError(f"[{i}].polygon: expected at least 3 [x, y] points")
        if item.get("camera", camera) != camera:
            continue
        out.append(AcceptedRegion(int(item.get("id", 0)), camera, [(float(x), float(y)) for x, y in poly],
                                  str(item.get("note", ""))))
    return out


@dataclass(frozen=True)
class RejectedRegion:
    event_id: str
    camera: str
    polygon: Polygon


def parse_rejected(payload: object, camera: str) -> list[RejectedRegion]:
    """Check the rejected-regions answer; entries without a box are skipped (nothing to re-baseline)."""
    if not isinstance(payload, list):
        raise RegionsError("expected a JSON list of rejected regions")
    out = []
    for i, item in enumerate(payload):
        if not isinstance(item, dict) or not isinstance(item.get("event_id"), str):
            raise RegionsError(f"[{i}]: expected an object with an event_id")
        poly = item.get("polygon")
        if poly is None or item.get("camera", camera) != camera:
            continue
        if (not isinstance(poly, list) or len(poly) < 3 or not all(
                isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(v, int | float) for v in p) for p in poly)):
            raise RegionsError(f"[{i}].polygon: expected at least 3 [x, y] points or null")
        out.append(RejectedRegion(item["event_id"], camera, [(float(x), float(y)) for x, y in poly]))
    return out


class AcceptedRegionsClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def fetch(self, camera: str) -> list[AcceptedRegion]:
        return parse_regions(self._get("accepted-regions", camera), camera)

    def fetch_rejected(self, camera: str) -> list[RejectedRegion]:
        """Rejected alerts' boxes; a review service without the endpoint (HTTP 404) has none."""
        try:
            payload = self._get("rejected-regions", camera)
        except RegionsError as exc:
            if "HTTP 404" in str(exc):
                return []
            raise
        return parse_rejected(payload, camera)

    def _get(self, what: str, camera: str) -> object:
        url = f"{self.base_url}/api/v1/{what}?{urllib.parse.urlencode({'camera': camera})}"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                body = resp.read(5_000_000)
        except urllib.error.HTTPError as exc:
            raise RegionsError(f"GET {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegionsError(f"GET {url}: {reason}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise RegionsError(f"GET {url}: answer is not JSON") from None
