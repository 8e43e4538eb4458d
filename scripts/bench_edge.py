#!/usr/bin/env python
"""Edge runner benchmark: prints figures, asserts nothing.

On a 1280×720 frame with the default tiling (320 px tiles, overlap 0.25 → 15 tiles), for 1 and 4
onnxruntime intra-op threads and for the fp32 and (when present) int8 model:
- ms per frame for the whole per-frame pipeline with the wall model off (motion, health, mask, one
  resize to model scale, tiles, batched runs of the edge's ``model.max_batch``, decision) against the
  raw model runs on the same tiles in the same runs — goal: overhead ≤ 15 %;
- the wall model (on by default): its own cost per sample (scaling, estimate, change map, gating;
  goal ≤ 10 % of one fp32 model run per frame) and the share of model runs it saves on a quiet and
  on a busy hour of a photo-wall stream (``detector.data.sim.photowall``);
- int8/fp32 speed ratio and score agreement on the same tiles;
- peak RSS (goal ≤ 200 MB) and RSS after N frames against after 100 (goal: growth < 5 %), with all
  tiles in one run and in runs of ``--max-batch`` (default: the edge's ``model.max_batch``);
- a paper estimate for a Raspberry Pi 4 and 5 from the model's multiply-accumulates per frame
  (counted from the ONNX graph's Conv/Gemm/MatMul shapes; needs the ``onnx`` package).

Example: python scripts/bench_edge.py --frames 2000
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Effective sustained throughput assumed for onnxruntime on 4 cores (GMAC/s), for the paper estimate.
# Pi 4: Cortex-A72 @ 1.8 GHz, 2×128-bit NEON FMA per core → 57.6 GMAC/s peak fp32; mobile CNNs with
# depthwise layers reach ~10-15 % of it. Pi 5: Cortex-A76 @ 2.4 GHz (~2.5-3× a Pi 4 per core here).
# int8: ~1.7× fp32 on A72 (no dot-product instructions), ~2.5× on A76 (SDOT).
PI_GMACS = {"Raspberry Pi 4 (4× A72 1.8 GHz)": (7.0, 12.0), "Raspberry Pi 5 (4× A76 2.4 GHz)": (20.0, 50.0)}


def _status_mb() -> dict[str, float]:
    """The memory lines of /proc/self/status (``VmRSS``, ``VmHWM``, ``RssAnon``, ``RssFile``, ...) in MB."""
    out: dict[str, float] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                out[key] = int(rest.split()[0]) / 1024.0
    return out


def rss_mb() -> float:
    return _status_mb().get("VmRSS", float("nan"))


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    peak = _status_mb().get("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_parts_mb() -> tuple[float, float]:
    """(anonymous, file-backed) resident MB now (RssAnon, RssFile + RssShmem). The kernel keeps no high-water mark
    of either: the memory run samples them after every frame. File-backed pages are the libraries and the model
    file, which the system can drop and read again; how many of them stay resident depends on the page cache (a
    freshly installed library reads higher until the cache is dropped), so the anonymous peak is the steady one."""
    st = _status_mb()
    return st.get("RssAnon", 0.0), st.get("RssFile", 0.0) + st.get("RssShmem", 0.0)


def count_macs(path: Path) -> int | None:
    """Multiply-accumulates for one image from the Conv/Gemm/MatMul shapes of the ONNX graph.

    Exported graphs pad with dynamic shapes that static shape inference cannot follow, so the shapes
    are taken from one real onnxruntime run with every Conv/Gemm/MatMul output exposed.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    import onnxruntime as ort

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i).shape for i in model.graph.initializer}
    for node in model.graph.node:  # weights stored as Constant nodes count too
        if node.op_type == "Constant":
            for at in node.attribute:
                if at.name == "value":
                    inits[node.output[0]] = numpy_helper.to_array(at.t).shape
    nodes = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    known = {o.name for o in model.graph.output}
    wanted = []
    for n in nodes:
        for name in (n.input[0], n.output[0]):
            if name not in known and name not in wanted and name not in inits:
                wanted.append(name)
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in wanted)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: np.zeros(shape, np.float32)}), strict=True))
    macs = 0
    for n in nodes:
        out = outs.get(n.output[0])
        if out is None:
            continue
        if n.op_type == "Conv":
            w = inits.get(n.input[1])
            if w is not None:
                macs += int(np.prod(out.shape[1:])) * int(np.prod(w[1:]))
        else:
            a = outs.get(n.input[0])
            k = a.shape[-1] if a is not None else 0
            macs += int(np.prod(out.shape[1:])) * int(k)
    return macs


def make_frames(n: int = 8) -> list[np.ndarray]:
    """1280×720 tunnel-like frames: tiled wall, a light gradient, sensor noise differing per frame."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:720, 0:1280]
    base = 110 + 20 * (((xx // 40) + (yy // 20)) % 2) + 40 * np.cos(xx / 1280 * np.pi)
    base = np.repeat(base[:, :, None], 3, axis=2).astype(np.float32)
    return [np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


class _NoSource:
    live = False
    finished = True
    name = "bench"

    def next_sample(self, due: float | None) -> None:
        return None

    def close(self) -> None:
        pass


def make_worker(model_path: Path, threads: int, max_batch: int = 0, wall: bool = True):  # type: ignore[no-untyped-def]
    from detector.edge.camera import CameraWorker
    from detector.edge.config import CameraConfig, WallConfig
    from detector.edge.model_holder import ModelHolder

    holder = ModelHolder(model_path, threads, max_batch=max_batch)
    cam = CameraConfig(source="bench", wall=WallConfig(enabled=wall))
    events: list[object] = []
    worker = CameraWorker("bench", cam, "bench", holder, lambda e, f: events.append(e), realtime=False,
                          stop=threading.Event(), source=_NoSource())  # type: ignore[arg-type]
    return worker, holder


def time_pipeline(model_path: Path, threads: int, frames: list[np.ndarray], n: int) -> dict[str, float]:
    from detector.edge.config import ModelConfig
    from detector.edge.sources import Frame
    from detector.tiling import cut_tiles, masked_frame

    worker, holder = make_worker(model_path, threads, max_batch=ModelConfig().max_batch, wall=False)
    sess = holder.current  # the raw run below goes in the same runs of <= max_batch tiles as the edge's
    for i in range(3):  # warm up (first runs allocate arenas)
        worker.process(Frame(frames[i % len(frames)], i * 5.0, time.time(), i))
    plan = worker.plan
    assert plan is not None
    batch = sess.preprocess(cut_tiles(masked_frame(frames[0], plan), plan))
    pipe, raw = [], []
    for i in range(n):  # interleaved, so load from other processes hits both alike
        t0 = time.perf_counter()
        worker.process(Frame(frames[i % len(frames)], (i + 3) * 5.0, time.time(), i + 3))
        pipe.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        sess.run(batch)
        raw.append((time.perf_counter() - t0) * 1000)
    return {"pipeline_ms": statistics.median(pipe), "raw_ms": statistics.median(raw), "tiles": len(plan.tiles)}


def wall_cost(model_path: Path, frames: list[np.ndarray], n: int) -> float:
    """ms per sample of the wall model alone (scale once, estimate, change map, gating), no model run."""
    import cv2

    from detector.edge.sources import Frame
    from detector.tiling import masked_frame

    worker, _ = make_worker(model_path, 1, wall=True)
    worker.process(Frame(frames[0], 0.0, time.time(), 0))
    judge, plan, engine = worker.judge, worker.plan, worker.engine
    assert judge is not None and plan is not None and engine is not None
    hw = judge.wall.size_hw
    times = []
    for i in range(n):
        frame = frames[i % len(frames)].copy()
        x = 100 + (i * 37) % 1000  # a passer-by, so the motion and foreground paths run
        frame[300:700, x:x + 90] = (40, 40, 160)
        t0 = time.perf_counter()
        scaled = cv2.resize(masked_frame(frame, plan), (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
        step = judge.sample(i * 5.0, scaled, set())
        dt = time.perf_counter() - t0
        if step.to_score:
            judge.scored(i * 5.0, step.to_score, np.zeros(len(step.to_score), np.float32))
        t0 = time.perf_counter()
        if judge.wall.valid:
            judge.judge(i * 5.0, engine.params.threshold, set(), engine.params.clean_threshold)
        times.append(dt + time.perf_counter() - t0)
    return float(np.mean(times) * 1000)  # the mean: slot pushes (the median) are amortised over samples


def runs_saved(model_path: Path, busy: float, hours: float) -> tuple[float, int]:
    """Share of tile scorings the wall model skipped on a photo-wall stream, and the samples run."""
    from detector.data.sim.photowall import PhotoWallStream
    from detector.demo.inproc import run_camera

    wall = make_frames(1)[0]
    rng = np.random.default_rng(3)
    paint = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    stream = PhotoWallStream(wall, [paint], [], seed=11, duration_s=hours * 3600.0, fps=0.2, busy=busy,
                             clock0_s=10 * 3600.0)
    run = run_camera(stream, model_path, {"interval_s": 5})
    total = run.model_runs + run.model_runs_saved
    return run.model_runs_saved / max(total, 1), run.samples


def tile_scores(model_path: Path, frames: list[np.ndarray]) -> np.ndarray:
    from detector.onnxmodel import ModelSession
    from detector.tiling import cut_tiles, plan_tiles

    sess = ModelSession(model_path, 2)
    plan = plan_tiles((1280, 720), 320, 0.25)
    return np.concatenate([sess.score(cut_tiles(f, plan)) for f in frames])


def memory_child(model_path: Path, threads: int, max_batch: int, total: int) -> None:
    """Run in a fresh process so peak RSS is one runner's: prints one JSON line of figures."""
    import json

    from detector.edge.sources import Frame

    frames = make_frames(4)
    import cv2  # noqa: F401  (imported by the runner anyway: count it in the base figure)
    import onnxruntime  # noqa: F401

    from detector.onnxmodel import return_freed_memory

    return_freed_memory()  # what composing the test frames allocated and freed is not the runner's

    base = rss_mb()
    worker, _ = make_worker(model_path, threads, max_batch)
    at_100 = float("nan")
    peak_anon = peak_file = 0.0
    started = time.perf_counter()
    for i in range(total):
        worker.process(Frame(frames[i % len(frames)], i * 5.0, time.time(), i))
        anon, file = rss_parts_mb()
        peak_anon, peak_file = max(peak_anon, anon), max(peak_file, file)
        if i + 1 == 100:
            gc.collect()
            at_100 = rss_mb()
        if (i + 1) % 1000 == 0:
            print(f"  … {i + 1} frames, RSS {rss_mb():.1f} MB", file=sys.stderr, flush=True)
    gc.collect()
    ms = (time.perf_counter() - started) / total * 1000
    print(json.dumps({"base_mb": base, "rss_100_mb": at_100, "rss_end_mb": rss_mb(), "peak_mb": peak_rss_mb(),
                      "peak_anon_mb": peak_anon, "peak_file_mb": peak_file, "ms_per_frame": ms}))


def memory_run(model_path: Path, threads: int, max_batch: int, total: int) -> dict[str, float]:
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--memory-child", str(model_path), "--threads", str(threads),
           "--max-batch", str(max_batch), "--frames", str(total)]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models/graffiti-effnetlite0.onnx")
    ap.add_argument("--int8", type=Path, default=None, help="int8 model (default: <model>-int8.onnx when it exists)")
    ap.add_argument("--threads", default="1,4", help="comma-separated intra-op thread counts")
    ap.add_argument("--timing-frames", type=int, default=30, help="frames timed per configuration")
    ap.add_argument("--frames", type=int, default=10_000, help="frames for the memory-growth run (>= 100)")
    ap.add_argument("--max-batch", type=int, default=None,
                    help="memory is measured with all tiles in one run and with runs of at most this many tiles "
                         "(default: the edge's model.max_batch; timing always uses the edge's)")
    ap.add_argument("--wall-hours", type=float, default=1.0, help="hours of quiet and of busy stream for the model-runs-saved figure")
    ap.add_argument("--memory-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.max_batch is None:
        from detector.edge.config import ModelConfig

        args.max_batch = ModelConfig().max_batch
    if args.memory_child is not None:
        memory_child(args.memory_child, int(args.threads.split(",")[0]), args.max_batch, max(100, args.frames))
        return 0
    if not args.model.is_file():
        print(f"error: {args.model} not found; train and export a model first (graffiti export) or pass --model")
        return 2
    int8 = args.int8 or args.model.with_name(f"{args.model.stem}-int8.onnx")
    models = {"fp32": args.model} | ({"int8": int8} if int8.is_file() else {})
    threads = [int(t) for t in args.threads.split(",")]
    frames = make_frames()
    print(f"host: {os.cpu_count()} CPU(s) visible; frame 1280x720, tiles 320 px overlap 0.25")

    timings: dict[tuple[str, int], dict[str, float]] = {}
    print("\nper frame (median)        pipeline ms   raw run ms   overhead   tiles")
    for name, path in models.items():
        for t in threads:
            r = time_pipeline(path, t, frames, args.timing_frames)
            timings[(name, t)] = r
            over = (r["pipeline_ms"] - r["raw_ms"]) / r["raw_ms"] * 100
            print(f"  {name:5s} {t} thread(s)       {r['pipeline_ms']:9.1f}   {r['raw_ms']:10.1f}   {over:7.1f} %   {r['tiles']:5.0f}")
    if "int8" in models:
        print("\nint8 vs fp32")
        for t in threads:
            ratio = timings[("fp32", t)]["raw_ms"] / timings[("int8", t)]["raw_ms"]
            print(f"  {t} thread(s): int8 is {ratio:.2f}× the speed of fp32 (raw run)")
        a, b = tile_scores(models["fp32"], frames[:4]), tile_scores(models["int8"], frames[:4])
        from detector.onnxmodel import read_meta

        ta, tb = read_meta(models["fp32"]).threshold, read_meta(models["int8"]).threshold
        agree = float(np.mean((a >= ta) == (b >= tb))) * 100
        print(f"  score agreement on {a.size} tiles: max |Δ| {np.abs(a - b).max():.4f}, mean |Δ| "
              f"{np.abs(a - b).mean():.4f}, verdicts agree {agree:.1f} %")

    print("\nwall model (on by default)")
    raw1 = timings[("fp32", min(threads))]["raw_ms"]
    cost = wall_cost(models["fp32"], frames, 400)
    print(f"  its own cost: {cost:.1f} ms per sample = {cost / raw1 * 100:.1f} % of one fp32 model run per frame "
          f"({raw1:.0f} ms, {min(threads)} thread(s)); goal <= 10 %")
    for label, busy in (("quiet", 0.2), ("busy", 4.0)):
        share, n = runs_saved(models["fp32"], busy, args.wall_hours)
        print(f"  {label} stream ({args.wall_hours:g} h, {n} samples): {share * 100:.1f} % of tile model runs saved")

    total = max(100, args.frames)
    t_mem = min(threads)
    print(f"\nmemory: fresh process per line, {t_mem} thread(s), {total} frames through the pipeline (goal: peak <= 200 MB, growth < 5 %)")
    runs = [("fp32", 0)] + ([("fp32", args.max_batch)] if args.max_batch else [])
    if "int8" in models:
        runs += [("int8", 0)] + ([("int8", args.max_batch)] if args.max_batch else [])
    for name, mb in runs:
        r = memory_run(models[name], t_mem, mb, total)
        batch = "all tiles in one run" if mb == 0 else f"runs of <= {mb} tiles"
        print(f"  {name} ({batch}): peak RSS {r['peak_mb']:.1f} MB (sampled after each frame: anonymous "
              f"{r['peak_anon_mb']:.1f} MB, file-backed {r['peak_file_mb']:.1f} MB); RSS after 100 frames {r['rss_100_mb']:.1f} MB, "
              f"after {total} {r['rss_end_mb']:.1f} MB (growth {(r['rss_end_mb'] - r['rss_100_mb']) / r['rss_100_mb'] * 100:+.2f} %); "
              f"{r['ms_per_frame']:.0f} ms/frame; {r['base_mb']:.0f} MB of it before the model loaded")

    macs = count_macs(models["fp32"])
    if macs is None:
        print("\npaper estimate: needs the 'onnx' package to count multiply-accumulates (pip install onnx)")
        return 0
    tiles = timings[("fp32", threads[0])]["tiles"]
    per_frame = macs * tiles
    print(f"\npaper estimate: {macs / 1e6:.0f} M MACs per tile × {tiles:.0f} tiles = {per_frame / 1e9:.2f} G MACs per frame")
    best_t = min(threads, key=lambda t: timings[("fp32", t)]["raw_ms"])
    host = timings[("fp32", best_t)]["raw_ms"]
    print(f"  this host: {per_frame / (host / 1000) / 1e9:.1f} G MAC/s effective (fp32, {best_t} thread(s))")
    for board, (fp32_g, int8_g) in PI_GMACS.items():
        print(f"  {board}: ~{per_frame / (fp32_g * 1e9) * 1000:.0f} ms fp32 (at {fp32_g:g} G MAC/s), "
              f"~{per_frame / (int8_g * 1e9) * 1000:.0f} ms int8 (at {int8_g:g} G MAC/s) per frame, 4 threads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
