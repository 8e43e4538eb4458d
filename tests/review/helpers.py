"""Test helpers for the review service: a real server in a subprocess, realistic evidence pictures,
events in the shared schema."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from detector.events import EVENT_SCHEMA, utc_now_iso

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_server(data: Path, *extra: str, ready_timeout_s: float = 40.0, db_url: str | None = None) -> Server:
    """``graffiti review serve`` on a free 127.0.0.1 port; returns once /api/v1/health answers."""
    port = free_port()
    log = data.parent / f"{data.name}-server-{port}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    test_db = db_url or os.environ.get("GRAFFITI_REVIEW_TEST_DB")
    cmd = [sys.executable, "-m", "detector", "review", "serve", "--data", str(data), "--host", "127.0.0.1",
           "--port", str(port), *(["--db", test_db] if test_db else []), *extra]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    server = Server(f"http://127.0.0.1:{port}", data, proc, log)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"review server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/api/v1/health", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.15)
    server.stop()
    raise RuntimeError(f"review server not ready after {ready_timeout_s} s: {log.read_text()[-2000:]}")


def tunnel_frame(w: int = 640, h: int = 360, tag: bool = True, seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A tunnel-like view (concrete walls in perspective, ceiling lights, floor) and, when ``tag``, a
    spray-painted tag on the left wall. Returns (BGR image, tag box xyxy in pixels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * 0.55, h * 0.46
    # Distance from the vanishing point drives brightness: the far end is darker.
    d = np.sqrt(((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2)
    base = 70 + 150 * np.clip(d * 1.6, 0, 1)
    noise = cv2.GaussianBlur(rng.normal(0, 14, (h, w)).astype(np.float32), (0, 0), 1.2)
    img = np.stack([base * 0.96, base * 0.98, base * 1.0], axis=-1) + noise[..., None]
    floor = yy > cy + (np.abs(xx - cx) * 0.45) + h * 0.08
    img[floor] *= np.array([0.55, 0.6, 0.62])
    for i in range(1, 9):  # concrete panel joints receding to the vanishing point
        x = cx - (cx - 0) / (1 + i * 0.55)
        cv2.line(img, (int(x), int(cy - (cy - 0) / (1 + i * 0.55))), (int(x), int(cy + (h - cy) / (1 + i * 0.9))),
                 (60, 60, 62), 1, cv2.LINE_AA)
    for i in range(4):  # ceiling lights
        t = 1 / (1 + i * 0.9)
        x1, x2 = int(cx - 60 * t), int(cx + 60 * t)
        y = int(cy - (cy - 8) * t)
        cv2.rectangle(img, (x1, y), (x2, y + max(2, int(8 * t))), (245, 250, 255), -1)
    img = np.clip(img, 0, 255).astype(np.uint8)
    box = (0, 0, 0, 0)
    if tag:
        x0, y0 = int(w * 0.08), int(h * 0.30)
        pts = []
        for k in range(5):  # a looping tag: a few letters joined by one stroke
            bx = x0 + k * 34
            pts += [(bx, y0 + 60), (bx + 10, y0 + 5 + int(rng.integers(0, 12))), (bx + 22, y0 + 58), (bx + 30, y0 + 30)]
        layer = img.copy()
        arr = np.array(pts, np.int32).reshape(-1, 1, 2)
        cv2.polylines(layer, [arr], False, (30, 20, 200), 9, cv2.LINE_AA)
        cv2.polylines(layer, [arr + 3], False, (20, 220, 240), 3, cv2.LINE_AA)
        cv2.line(layer, (x0 - 5, y0 + 75), (x0 + 175, y0 + 68), (30, 20, 200), 5, cv2.LINE_AA)
        img = cv2.addWeighted(layer, 0.9, img, 0.1, 0)
        box = (x0 - 12, y0 - 8, x0 + 190, y0 + 86)
    return img, box


def jpeg(img: np.ndarray, quality: int = 88) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def tiles_over(box: tuple[int, int, int, int], frame_wh: tuple[int, int], tile_px: int = 160,
               hot: float = 0.93, cold: float = 0.08) -> list[dict[str, Any]]:
    """A grid of overlapping tiles over the frame, scored hot where they overlap ``box``."""
    w, h = frame_wh
    step = int(tile_px * 0.75)
    out = []
    for y in range(0, max(1, h - tile_px) + 1, step):
        for x in range(0, max(1, w - tile_px) + 1, step):
            t = (x, y, x + tile_px, y + tile_px)
            ix = max(0, min(t[2], box[2]) - max(t[0], box[0])) * max(0, min(t[3], box[3]) - max(t[1], box[1]))
            box_area = max(1, (box[2] - box[0]) * (box[3] - box[1]))
            frac = ix / float(min(tile_px * tile_px, box_area))
            out.append({"xyxy": list(t), "score": round(min(hot, cold + 2.2 * frac * hot), 3)})
    return out


def make_event(device: str = "pi-1", camera: str = "north", type: str = "graffiti_detected",
               evidence: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "schema": EVENT_SCHEMA, "id": str(uuid.uuid4()), "device": device, "camera": camera, "type": type,
        "time": utc_now_iso(), "score": None, "threshold": None,
        "tiles": [], "bbox": None, "frame_size": None, "model": None, "evidence": evidence or {},
        "related_event": None, "score_history": [], "detail": {},
    }
    ev.update(fields)
    return ev


def detection(device: str = "pi-1", camera: str = "north", seed: int = 0, score: float = 0.91,
              with_reference: bool = False, **fields: Any) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """A realistic graffiti_detected event with frame and crop evidence (and optionally a reference)."""
    frame, box = tunnel_frame(seed=seed)
    h, w = frame.shape[:2]
    tiles = tiles_over(box, (w, h))
    hot = [t for t in tiles if t["score"] >= 0.6]
    bbox = [min(t["xyxy"][0] for t in hot), min(t["xyxy"][1] for t in hot),
            max(t["xyxy"][2] for t in hot), max(t["xyxy"][3] for t in hot)]
    files = [("frame.jpg", jpeg(frame)), ("crop.jpg", jpeg(frame[bbox[1]:bbox[3], bbox[0]:bbox[2]]))]
    evidence = {"frame": "frame.jpg", "crop": "crop.jpg"}
    if with_reference:
        files.append(("reference.jpg", jpeg(tunnel_frame(tag=False, seed=seed)[0])))
        evidence["reference"] = "reference.jpg"
    history = [[float(s), round(min(score, 0.1 + 0.9 * (1 - s / 60) ** 0.5 * score), 3)] for s in range(60, -1, -4)]
    ev = make_event(device, camera, evidence=evidence, score=score, threshold=0.6, tiles=tiles, bbox=bbox,
                    frame_size=[w, h], score_history=history,
                    model={"name": "graffiti-mnv3", "version": "1.0.0", "sha256": "0" * 64}, **fields)
    return ev, files


def post_event(client: httpx.Client, token: str | None, event: dict[str, Any],
               files: list[tuple[str, bytes]]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    parts = [("files", (name, data, "image/jpeg")) for name, data in files]
    return client.post("/api/v1/events", data={"event": json.dumps(event)}, files=parts or None, headers=headers)


def csrf_of(html: str) -> str:
    import re

    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def sign_in(client: httpx.Client, user: str, password: str) -> httpx.Response:
    """Sign in like a browser: fetch the form (anonymous session + CSRF), post it."""
    page = client.get("/login")
    return client.post("/login", data={"user": user, "password": password, "csrf": csrf_of(page.text), "next": "/queue"})


def scene_detection(seed: int = 18, device: str = "pi-1", camera: str = "north",
                    score: float = 0.94) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """A detection whose frame is a synthetic tunnel CCTV view (``detector.data.synth``) with a painted
    tag, plus the same tunnel without it as the reference view; falls back to ``tunnel_frame``."""
    try:
        from detector.data.synth.scene import render_scene
    except ImportError:
        return detection(device, camera, seed=seed, score=score, with_reference=True)
    side, w, h = 720, 720, 405
    for candidate in (seed, 6, 13, 10, 12):  # the first seed whose tag is big enough to read on the page
        dirty = render_scene(candidate, side, graffiti=True)
        hot = sorted((r for r in dirty.regions if r.label == 1), key=lambda r: r.xyxy[0] - r.xyxy[2])
        if hot and hot[0].xyxy[2] - hot[0].xyxy[0] >= 150 and hot[0].xyxy[3] - hot[0].xyxy[1] <= h:
            break
    y0 = int(min(max(0, (hot[0].xyxy[1] + hot[0].xyxy[3]) / 2 - h / 2), side - h)) if hot else (side - h) // 2
    frame = dirty.image[y0:y0 + h]
    # The same view before the paint: the tags painted out of this very frame (a scene rendered without
    # graffiti draws other lighting and posters, so it would not look like the same camera).
    mask = np.zeros(frame.shape[:2], np.uint8)
    for r in dirty.regions:
        if r.label == 1:
            x1, y1, x2, y2 = (int(v) for v in r.xyxy)
            cv2.rectangle(mask, (x1 - 4, y1 - y0 - 4), (x2 + 4, y2 - y0 + 4), 255, -1)
    ref = cv2.inpaint(np.ascontiguousarray(frame), mask, 7, cv2.INPAINT_TELEA)
    if hot:
        x1, y1, x2, y2 = hot[0].xyxy
        box = (int(x1), int(y1) - y0, int(x2), int(y2) - y0)
    else:
        box = (w // 3, h // 3, 2 * w // 3, 2 * h // 3)
    tiles = tiles_over(box, (w, h), tile_px=180, hot=score)
    flagged = [t for t in tiles if t["score"] >= 0.6]
    bbox = [min(t["xyxy"][0] for t in flagged), min(t["xyxy"][1] for t in flagged),
            min(w, max(t["xyxy"][2] for t in flagged)), min(h, max(t["xyxy"][3] for t in flagged))]
    crop = frame[bbox[1]:bbox[3], bbox[0]:bbox[2]]
    history = [[float(s), round(min(score, 0.05 + (score - 0.05) * max(0.0, 1 - s / 45) ** 0.7), 3)]
               for s in range(90, -1, -3)]
    ev = make_event(device, camera, evidence={"frame": "frame.jpg", "crop": "crop.jpg", "reference": "ref.jpg"},
                    score=score, threshold=0.6, tiles=tiles, bbox=bbox, frame_size=[w, h], score_history=history,
                    model={"name": "graffiti-effnet-lite0", "version": "1.2.0", "sha256": "0" * 64})
    return ev, [("frame.jpg", jpeg(frame, 92)), ("crop.jpg", jpeg(crop, 92)), ("ref.jpg", jpeg(ref, 92))]
