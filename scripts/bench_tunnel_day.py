#!/usr/bin/env python3
"""Tunnel-day benchmark: false alerts per camera-day, detection and cleaning delays, frames per second.

Each seed is one simulated tunnel camera living through a day (``detector.data.sim`` "day" script:
IR at night, dawn, daylight, dusk, strip lights, a failing lamp, rush-hour passers-by, a tag painted
at night and cleaned in the morning, a throw-up, a large piece late in the evening, a poster, a wet
patch, a shadow). The edge runner's camera loop (motion → tiling → one batched ONNX run → decision →
events) runs in-process on a frame every ``--interval-s`` of stream time, as fast as the CPU allows;
events are matched with the day's ground truth (detector.demo.truth).

Goals: 0 false alerts per camera-day across seeds; every paint detected within 5 minutes of being
finished; cleaning noticed within 10 minutes.

    .venv/bin/python scripts/bench_tunnel_day.py                       # 24 h × 3 seeds (long)
    .venv/bin/python scripts/bench_tunnel_day.py --hours 2 --start-hour 2 --seeds 0,1 --threads 2
    .venv/bin/python scripts/bench_tunnel_day.py --hours 1 --scores scores.csv   # per-tile scores

``--start-hour``/``--hours`` evaluate a window of the full 24-hour day at its real density (a paint
finished before the window opens is counted when it is detected or cleaned, not in the delays).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24.0, help="hours of the day to simulate per seed (default 24)")
    p.add_argument("--start-hour", type=float, default=0.0, help="where in the day to start (0-24)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, one camera each")
    p.add_argument("--interval-s", type=float, default=5.0, help="stream seconds between samples (the edge's interval_s)")
    p.add_argument("--model", type=Path, default=REPO / "models" / "graffiti-effnetlite0.onnx")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--fps", type=float, default=1.0, help="frame grid of the simulated stream")
    p.add_argument("--size", default="1280x720", help="frame size WIDTHxHEIGHT")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an edge decision setting, e.g. --set confirm_s=60 --set floor=0.3 (repeatable)")
    p.add_argument("--whole-frame", action="store_true", help="score the whole frame (default: watch the two side walls)")
    p.add_argument("--scores", type=Path, help="write every sample's per-tile scores to this CSV")
    p.add_argument("--replay", type=Path, nargs="+", metavar="CSV",
                   help="no rendering or model: run only the decision stage on --scores CSVs (to try --set values)")
    return p.parse_args(argv)


def fmt_delays(values: list[float]) -> str:
    from detector.demo.truth import percentile

    if not values:
        return "n/a"
    return f"median {percentile(values, 50):+.0f} s, worst {max(values):+.0f} s (n={len(values)})"


def hhmm(t_s: float) -> str:
    h, rem = divmod(int(round(t_s)), 3600)
    return f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}"


class ScoreLog:
    """Every sample's per-tile scores as CSV, with the paint each tile overlaps and how many of its
    pixels a person covers (from the sim's person-free render): the data to see how the model
    separates paint from passers-by and light. Prints a summary by category at the end."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("w", newline="")
        self.rows = csv.writer(self.file)
        self.rows.writerow(["seed", "t_s", "light", "tile", "x1", "y1", "x2", "y2", "score", "paint_on_tile",
                            "person_px"])
        self.by_kind: dict[str, list[float]] = {}

    def callback(self, seed: int, stream, settings: dict):  # type: ignore[no-untyped-def,type-arg]
        import numpy as np

        from detector.demo.inproc import camera_config
        from detector.demo.people import PERSON_GREY_DELTA, person_free
        from detector.tiling import plan_tiles

        cfg = camera_config(settings)
        boxes = [t.xyxy for t in plan_tiles(stream.size, cfg.tiling.tile_for(stream.size), cfg.tiling.overlap, cfg.watch,
                                            cfg.ignore).tiles]
        timeline, empty = stream.timeline, person_free(stream)

        def on_scores(t_s: float, scores) -> None:  # type: ignore[no-untyped-def]
            import cv2

            a = cv2.cvtColor(stream.frame_at(t_s), cv2.COLOR_BGR2GRAY).astype(np.int16)
            b = cv2.cvtColor(empty.frame_at(t_s), cv2.COLOR_BGR2GRAY).astype(np.int16)
            person = np.abs(a - b) >= PERSON_GREY_DELTA
            light = timeline.light_at(t_s).mode
            shown = [i for i in timeline.incidents if i.start_s <= t_s < (i.cleaned_s or 1e18)]
            for k, (box, s) in enumerate(zip(boxes, scores, strict=True)):
                x1, y1, x2, y2 = box
                on = [i for i in shown if i.bbox and x1 < i.bbox[2] and i.bbox[0] < x2 and y1 < i.bbox[3]
                      and i.bbox[1] < y2]
                px = int(np.count_nonzero(person[y1:y2, x1:x2]))
                self.rows.writerow([seed, f"{t_s:.1f}", light, k, *box, f"{float(s):.4f}",
                                    "+".join(f"{i.id}:{i.type}" for i in on), px])
                paint = [i for i in on if i.label == 1]
                if paint:
                    kind = "paint, finished" if any(t_s >= i.finished_s for i in paint) else "paint, in progress"
                elif any(i.label == 0 for i in on):
                    kind = "poster/wet/shadow"
                elif px > 400:
                    kind = f"person on tile ({light})"
                else:
                    kind = f"empty wall ({light})"
                self.by_kind.setdefault(kind, []).append(float(s))

        return on_scores

    def close(self) -> None:
        import numpy as np

        self.file.close()
        print("tile scores by what the tile shows (n, p50, p90, p99, max):")
        for kind in sorted(self.by_kind):
            v = np.asarray(self.by_kind[kind])
            p50, p90, p99 = np.percentile(v, [50, 90, 99])
            print(f"  {kind:<34} n={v.size:<6} {p50:.3f} {p90:.3f} {p99:.3f} {v.max():.3f}")


def replay(args: argparse.Namespace, settings: dict) -> int:  # type: ignore[type-arg]
    """The decision stage alone (the edge's DecisionEngine) on recorded per-tile scores."""
    from collections import defaultdict

    from detector.data.sim.stream import TunnelStream
    from detector.data.sim.video import parse_size
    from detector.demo.inproc import camera_config
    from detector.demo.polygons import wall_polygons
    from detector.demo.truth import TimedEvent, compare
    from detector.edge.decision import Closed, DecisionEngine, DecisionParams, Opened
    from detector.onnxmodel import read_meta
    from detector.tiling import plan_tiles, union_box

    cfg = camera_config(settings)
    meta = read_meta(args.model)
    d = cfg.decision
    threshold = d.threshold if d.threshold is not None else meta.threshold
    clean = min(d.clean_threshold if d.clean_threshold is not None else meta.clean_threshold, threshold)
    params = DecisionParams(threshold, clean, d.floor, d.window, d.confirm_s, d.clean_s)
    print(f"replay: {params}")
    samples: dict[int, dict[float, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for path in args.replay:
        with path.open() as fh:
            for row in csv.DictReader(fh):
                samples[int(row["seed"])][float(row["t_s"])][int(row["tile"])] = float(row["score"])
    size = parse_size(args.size)
    total_false, total_hours, delays, missed = 0, 0.0, [], []
    for seed, by_t in sorted(samples.items()):
        stream = TunnelStream(seed, 86400.0, args.fps, size, script="day")
        watch = [] if args.whole_frame else wall_polygons(stream)
        plan = plan_tiles(size, cfg.tiling.tile_for(size), cfg.tiling.overlap, watch, cfg.ignore)
        engine = DecisionEngine(params, plan.neighbours)
        events, opened = [], {}
        times = sorted(by_t)
        for t in times:
            for dec in engine.update(t, [by_t[t][i] for i in range(len(plan.tiles))]):
                box = union_box([plan.tiles[i] for i in dec.tile_scores]) if isinstance(dec, Opened | Closed) else None
                if isinstance(dec, Opened):
                    opened[dec.key] = f"{seed}-{dec.key}"
                    events.append(TimedEvent(opened[dec.key], "graffiti_detected", "sim", t, dec.score, box))
                elif isinstance(dec, Closed):
                    events.append(TimedEvent(f"c{seed}-{dec.key}", "graffiti_cleaned", "sim", t, dec.score, box,
                                             opened.get(dec.key)))
        step = times[1] - times[0] if len(times) > 1 else args.interval_s
        tl = stream.timeline
        report = compare(tl, events, times[0], times[-1] + step)
        hours = (times[-1] + step - times[0]) / 3600.0
        total_false += len(report.false_alarms)
        total_hours += hours
        delays += report.detect_delays_s()
        missed += [f"{seed}:{r.incident_id}" for r in report.missed()]
        print(f"seed {seed} {hhmm(times[0])}-{hhmm(times[-1] + step)}: {len(report.false_alarms)} false "
              f"{[(hhmm(f.event.t_s), f.event.bbox, f.cause) for f in report.false_alarms]}, "
              f"paint {[(r.incident_id, r.detect_delay_s, r.clean_delay_s) for r in report.incidents]}")
    print(f"replay total: {total_false} false alerts in {total_hours:.1f} camera-hours "
          f"({total_false / max(total_hours / 24, 1e-9):.2f} per camera-day); delays {fmt_delays(delays)}; missed {missed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    from detector.data.sim.stream import TunnelStream
    from detector.data.sim.video import parse_size
    from detector.demo.inproc import run_camera
    from detector.demo.people import check_evidence
    from detector.demo.truth import CLEAN_GOAL_S, DETECT_GOAL_S, compare
    from detector.onnxmodel import read_meta

    if not args.model.is_file():
        print(f"error: --model {args.model} not found", file=sys.stderr)
        return 2
    decision: dict[str, float | int] = {}
    for item in args.set:
        key, _, value = item.partition("=")
        decision[key.strip()] = int(value) if key.strip() == "window" else float(value)
    if args.replay:
        return replay(args, {"interval_s": args.interval_s, "decision": decision})
    from detector.demo.polygons import osd_ignore, wall_polygons

    # As an installer would configure the camera: watch the two side walls, mask the burned-in clock.
    settings: dict = {"interval_s": args.interval_s, "decision": decision,  # type: ignore[type-arg]
                      "ignore": [osd_ignore(parse_size(args.size))]}
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    start_s, end_s = args.start_hour * 3600.0, min(24.0, args.start_hour + args.hours) * 3600.0
    meta = read_meta(args.model)
    print(f"model {args.model.name} ({meta.name} {meta.version}, threshold {meta.threshold:.3f}, clean "
          f"{meta.clean_threshold:.3f}); sample every {args.interval_s:g} s; hours {hhmm(start_s)}-{hhmm(end_s)} "
          f"of the day; seeds {seeds}; decision overrides {decision or 'none'}; {args.threads} thread(s); "
          f"{'whole frame' if args.whole_frame else 'watching the two side walls'}, burned-in clock masked")
    scores = ScoreLog(args.scores) if args.scores is not None else None
    totals = {"false": 0, "samples": 0, "seconds": 0.0, "render_s": 0.0, "hours": 0.0, "evidence": 0,
              "evidence_person": 0}
    delays: list[float] = []
    clean_delays: list[float] = []
    missed_all: list[str] = []
    clean_missed: list[str] = []
    for seed in seeds:
        stream = TunnelStream(seed, 86400.0, args.fps, parse_size(args.size), script="day")
        tl = stream.timeline
        if not args.whole_frame:
            settings["watch"] = wall_polygons(stream)
        def on_event(ev, seed: int = seed) -> None:  # type: ignore[no-untyped-def]
            print(f"  seed {seed} {hhmm(ev.t_s)} {ev.type} score {ev.score} bbox {ev.bbox}", flush=True)

        run = run_camera(stream, args.model, settings, start_s, end_s, threads=args.threads,
                         on_scores=scores.callback(seed, stream, settings) if scores else None, on_event=on_event)
        report = compare(tl, run.events, start_s, end_s)
        hours = (end_s - start_s) / 3600.0
        totals["false"] += len(report.false_alarms)
        totals["samples"] += run.samples
        totals["seconds"] += run.seconds
        totals["render_s"] += run.render_s
        totals["hours"] += hours
        delays += report.detect_delays_s()
        clean_delays += report.clean_delays_s()
        missed = report.missed(DETECT_GOAL_S)
        missed_all += [f"seed {seed} {r.incident_id} ({r.kind}, finished {hhmm(r.finished_s)})" for r in missed]
        cmiss = report.clean_misses(CLEAN_GOAL_S)
        clean_missed += [f"seed {seed} {r.incident_id}" for r in cmiss]
        print(f"seed {seed}: {run.samples} samples in {run.seconds:.0f} s ({run.samples_per_s:.2f} samples/s; "
              f"rendering {run.render_s:.0f} s of it), {len(report.incidents)} paint incident(s) in the window, "
              f"{len(report.false_alarms)} false alert(s), {len(missed)} missed, {len(cmiss)} cleaning(s) not noticed")
        for r in report.incidents:
            note = " (already there when the window opened)" if r.present_at_start else ""
            det = "not detected" if r.detected_t_s is None else f"detected {hhmm(r.detected_t_s)} ({r.detect_delay_s:+.0f} s)"
            cl = "" if r.cleaned_s is None else (
                f", cleaned {hhmm(r.cleaned_s)} → " + ("not noticed" if r.cleaned_t_s is None
                                                       else f"noticed {hhmm(r.cleaned_t_s)} ({r.clean_delay_s:+.0f} s)"))
            print(f"    {r.incident_id} {r.kind} painted {hhmm(r.start_s)}-{hhmm(r.finished_s)}{note}: {det}{cl}")
        for fa in report.false_alarms:
            print(f"    false alert {hhmm(fa.event.t_s)} score {fa.event.score} bbox {fa.event.bbox}: {fa.cause}")
        for ev in run.events:
            if ev.id in run.evidence and ev.bbox is not None:  # is someone standing in the evidence picture?
                check = check_evidence(stream, run.evidence[ev.id], ev.bbox,
                                       [ev.t_s + k * args.interval_s for k in range(-1, 6)])
                totals["evidence"] += 1
                if check.person_px > 50:
                    totals["evidence_person"] += 1
                    print(f"    evidence of {hhmm(ev.t_s)} taken at {hhmm(check.t_s)} shows a person over "
                          f"{check.person_px} px of the event box")
    if scores is not None:
        scores.close()

    days = totals["hours"] / 24.0
    edge_s = totals["seconds"] - totals["render_s"]
    print()
    print(f"simulated {totals['hours']:.1f} camera-hours ({days:.2f} camera-days), {int(totals['samples'])} samples")
    print(f"false alerts per camera-day: {totals['false'] / max(days, 1e-9):.2f} ({int(totals['false'])} in total)"
          f"   goal 0")
    print(f"detection delay after the paint was finished: {fmt_delays(delays)}   goal ≤ {DETECT_GOAL_S:.0f} s")
    print(f"missed incidents: {len(missed_all)} {missed_all if missed_all else ''}")
    print(f"cleaning delay: {fmt_delays(clean_delays)}   goal ≤ {CLEAN_GOAL_S:.0f} s; not noticed: {len(clean_missed)}")
    print(f"evidence pictures with a person in front of the graffiti: {int(totals['evidence_person'])} of "
          f"{int(totals['evidence'])}")
    print(f"frames per second: {totals['samples'] / max(totals['seconds'], 1e-9):.2f} overall "
          f"(edge pipeline alone {totals['samples'] / max(edge_s, 1e-9):.2f}; rendering "
          f"{totals['render_s'] / max(totals['seconds'], 1e-9):.0%} of the time); one camera-day at "
          f"{args.interval_s:g} s takes ≈ {86400 / args.interval_s * totals['seconds'] / max(totals['samples'], 1) / 60:.0f} min here")
    ok = totals["false"] == 0 and not missed_all and not clean_missed
    print("goals met" if ok else "goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
