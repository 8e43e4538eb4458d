"""``graffiti edge ...``: run the device, check its config (and print its schema), score single images.

Imports only typer at module level; onnxruntime/OpenCV load inside the commands (never torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # loaded by the outbox commands only
    from detector.edge.config import EdgeConfig
    from detector.edge.delivery.outbox import Outbox, SinkState

app = typer.Typer(
    help="The edge runner: watch tunnel cameras, report graffiti once, keep events until delivered.\n\n"
    "Example: graffiti edge run --config edge.toml",
    no_args_is_help=True,
)


@app.command("run")
def run_cmd(
    config: Path = typer.Option(None, "--config", "-c", help="edge.toml or edge.yaml"),
    source: str = typer.Option(None, "--source", "-s",
                               help="A quick look without a config file: one camera on this video file, image "
                                    "folder, RTSP/HTTP URL or USB index, every other setting at its default; the "
                                    "events land as JSON and evidence JPEGs under --data-dir/events."),
    model: Path = typer.Option(None, "--model", "-m", help="With --source: the ONNX model (default: the bundled one)."),
    data_dir: Path = typer.Option(Path("edge-data"), "--data-dir",
                                  help="With --source: the device's folder (state, outbox, events/)."),
    fast: bool = typer.Option(False, "--fast/--realtime",
                              help="Files only: process as fast as the CPU allows (same decisions, file clock)."),
    log_format: str = typer.Option("text", "--log-format", help="text or json (one JSON object per line)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Run the cameras until SIGTERM/SIGINT (or, with --fast on files, until they end).

    Example: graffiti edge run --config /etc/graffiti/edge.toml --log-format json

    A recording, without a config: graffiti edge run --source tunnel.mp4 --fast
    """
    from detector.edge.config import load_edge_config
    from detector.edge.logs import setup_logging
    from detector.edge.runner import run_edge
    from detector.errors import ConfigError

    if log_format not in ("text", "json"):
        raise ConfigError(f"--log-format: expected 'text' or 'json', found {log_format!r}")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"--log-level: expected debug, info, warning or error, found {log_level!r}")
    if (config is None) == (source is None):
        raise ConfigError("expected either --config FILE (a device) or --source VIDEO|FOLDER|URL (a quick look), "
                          "not " + ("both" if config is not None else "neither"))
    if config is None and source is not None:
        cfg = quick_config(source, model, data_dir)
    else:
        if model is not None:
            raise ConfigError("--model goes with --source; with --config the model is the config's model.path")
        cfg = load_edge_config(config)
    setup_logging(log_format, log_level)
    code = run_edge(cfg, realtime=not fast)
    if source is not None:
        typer.echo(events_summary(cfg.device.data_dir / "events"))
    raise typer.Exit(code)


def quick_config(source: str, model: Path | None, data_dir: Path) -> EdgeConfig:
    """The config of ``graffiti edge run --source``: one camera (named after the file, or ``camera``), the
    bundled model unless ``model`` is given, every setting at its default, events to ``data_dir/events``."""
    import re

    from detector.bundled import model_or_bundled
    from detector.edge.config import parse_edge_config
    from detector.edge.sources import is_live_spec
    from detector.errors import ConfigError

    is_file = not is_live_spec(source)
    if is_file and not Path(source).exists():
        raise ConfigError(f"--source {source}: no such video file or image folder (or give an RTSP/HTTP URL or a "
                          "USB camera index)")
    stem = Path(source.rstrip("/")).stem if is_file else ""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")[:40] or "camera"
    return parse_edge_config({
        "device": {"name": "quick-look", "data_dir": str(data_dir.absolute())},
        "model": {"path": str(model_or_bundled(model).absolute())},
        "cameras": {name: {"source": source}},
        "delivery": {"local": {"dir": "events"}},
    }, Path.cwd())


def events_summary(events_dir: Path) -> str:
    """One line: how many events of each type the local sink holds under ``events_dir``, and where."""
    import json
    from collections import Counter

    kinds: Counter[str] = Counter()
    for p in events_dir.glob("events/*/*/event.json"):
        try:
            kinds[json.loads(p.read_text(encoding="utf-8")).get("type", "?")] += 1
        except (OSError, ValueError):
            kinds["unreadable"] += 1
    if not kinds:
        return f"no events under {events_dir}"
    listed = ", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items()))
    return f"{sum(kinds.values())} event(s) under {events_dir}: {listed} (each folder: event.json and its pictures)"


@app.command("check-config")
def check_config_cmd(config: Path = typer.Argument(..., help="edge.toml or edge.yaml")) -> None:
    """Validate a config file without running anything; prints a summary or a one-line error.

    Example: graffiti edge check-config scripts/edge.example.toml
    """
    from detector.edge.config import load_edge_config
    from detector.edge.sources import redact_url

    cfg = load_edge_config(config)
    sinks = cfg.delivery.sink_names() or ["none (events stay in the outbox)"]
    typer.echo(f"{config}: OK — device {cfg.device.name}, {len(cfg.cameras)} camera(s), model {cfg.model.path}, "
               f"sinks: {', '.join(sinks)}")
    for name, cam in cfg.cameras.items():
        thr = "model" if cam.decision.threshold is None else f"{cam.decision.threshold:g}"
        typer.echo(f"  {name}: {redact_url(cam.source)} every {cam.interval_s:g} s, {cam.tiling.describe()}, "
                   f"threshold {thr}, watch {len(cam.watch)} / ignore {len(cam.ignore)} / accepted "
                   f"{len(cam.accepted)} polygon(s)")
        w = cam.wall
        wall = (f"wall model: a change enters after {(w.slots // 2 + 1) * w.slot_s:g} s ({w.slots} slots of "
                f"{w.slot_s:g} s), baseline over {w.commission_s:g} s, evidence needs score >= baseline + "
                f"{w.score_margin:g} and {w.change_fraction:.0%} of the tile changed" if w.enabled
                else "wall model: off (every sample's live tiles are scored)")
        d = cam.decision
        settled = f" ({d.settled_wait_s:g} s once back to the baseline)" if w.enabled else ""
        typer.echo(f"    {wall}; decision: median of {d.window}, confirm {d.confirm_s:g} s, clean {d.clean_s:g} s"
                   f"{settled}")


@app.command("config-schema")
def config_schema_cmd(
    out: Path = typer.Option(None, "--out", "-o", help="Write the schema to this file instead of printing it."),
) -> None:
    """Print the JSON Schema of edge.toml / edge.yaml (keys, types, defaults, bounds, descriptions).

    Generated from the same definitions the loader checks. Editors use it to complete and check a
    YAML config (first line: "# yaml-language-server: $schema=edge-config.schema.json").

    Example: graffiti edge config-schema --out edge-config.schema.json
    """
    import json

    from detector.edge.config import edge_config_schema

    text = json.dumps(edge_config_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    from detector.errors import ConfigError

    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out: cannot write {out} ({exc.strerror})") from None
    typer.echo(f"wrote {out}")


@app.command("commission")
def commission_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="The running device's edge.toml or edge.yaml."),
    camera: list[str] = typer.Option(None, "--camera", help="Camera name (repeatable; default: every camera)."),
) -> None:
    """Retake the cameras' wall baseline from the current wall (after a renovation, a new mural, a moved camera).

    The running `graffiti edge run` picks the request up at its next sample: the baseline is taken again
    over commission_s, marks that already look like graffiti go to the operator as one commissioning
    report, and detection goes on from there. Nothing is changed while no runner is running; the request
    waits for it.

    Example: graffiti edge commission --config /etc/graffiti/edge.toml --camera north
    """
    from detector.edge.camera import commission_request_path
    from detector.edge.config import load_edge_config
    from detector.errors import ConfigError

    cfg = load_edge_config(config)
    names = list(camera or cfg.cameras)
    unknown = [n for n in names if n not in cfg.cameras]
    if unknown:
        raise ConfigError(f"--camera {unknown[0]}: not in {config} (cameras: {', '.join(cfg.cameras)})")
    cfg.device.data_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = commission_request_path(cfg.device.data_dir, name)
        path.write_text("retake the wall baseline\n")
        typer.echo(f"{name}: re-commissioning requested ({path}); the running edge takes the new baseline "
                   f"over {cfg.cameras[name].wall.commission_s:g} s")


@app.command("score")
def score_cmd(
    images: list[Path] = typer.Argument(..., help="Image files, or folders (searched recursively for images)."),
    model: Path = typer.Option(None, "--model", "-m", help="ONNX model with the contract (default: the bundled "
                               "models/graffiti-effnetlite0.onnx, found from any folder)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for <image>.heat.png overlays (default: none written; "
                             "a folder's images keep their sub-folders there)."),
    csv_path: Path = typer.Option(None, "--csv", help="Also write one row per image (score, verdict, hottest tile, "
                                  "heat map, or why it was skipped) to this CSV file."),
    tile_px: int = typer.Option(None, "--tile-px", help="Tile size in image pixels (default: sized to each image "
                                "as the edge sizes a frame's, a ninth of its area: 320 px at 1280x720)."),
    overlap: float = typer.Option(0.25, "--overlap", help="Tile overlap (fraction)."),
    threads: int = typer.Option(4, "--threads", help="onnxruntime intra-op threads."),
) -> None:
    """Score images tile by tile: max score and verdict per image, and a heat-map PNG with --out.

    The verdict is the edge's: any tile at or over the model's threshold. Each line also gives the whole image
    scored as one model input (the photo-level score `graffiti eval` reports), for photos rather than camera frames.

    Example: graffiti edge score wall1.jpg wall2.jpg --model models/graffiti-effnetlite0.onnx --out heat/

    A folder: graffiti edge score photos/ --out heat/ --csv scores.csv
    """
    import csv

    from detector.bundled import model_or_bundled
    from detector.config import check_range
    from detector.edge.score import ImageScore, expand_images, score_images
    from detector.errors import ConfigError
    from detector.onnxmodel import ModelSession

    if tile_px is not None:
        check_range(tile_px, "--tile-px", 16, 4096)
    check_range(overlap, "--overlap", 0.0, 0.9)
    if csv_path is not None and csv_path.is_dir():
        raise ConfigError(f"--csv {csv_path}: is a folder; expected a CSV file to write")
    session = ModelSession(model_or_bundled(model), threads)
    found, errors, notes = expand_images(images)
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    for line in errors:
        typer.echo(f"error: {line}", err=True)
    rows: list[dict[str, object]] = [{"path": str(e.path), "error": e.reason} for e in errors]
    counts = {"graffiti": 0, "clean": 0}
    bad = len(errors)
    for r in score_images(session, [p for p, _ in found], out, tile_px, overlap, heat_names=[n for _, n in found]):
        if isinstance(r, ImageScore):
            heat = f"  heat map: {r.heatmap_path}" if r.heatmap_path else ""
            whole = "" if r.whole_score is None else f"; whole image {r.whole_score:.3f}"
            typer.echo(f"{r.path}: max {r.max_score:.3f} over {len(r.tiles)} tile(s) → {r.verdict} "
                       f"(threshold {r.threshold:.3f}){whole}{heat}")
            counts[r.verdict] += 1
            hottest = r.tiles[r.tile_scores.index(r.max_score)].xyxy if r.tiles else ()
            rows.append({"path": str(r.path), "max_score": f"{r.max_score:.4f}", "verdict": r.verdict,
                         "threshold": f"{r.threshold:.4f}", "tiles": len(r.tiles),
                         "whole_image_score": "" if r.whole_score is None else f"{r.whole_score:.4f}",
                         "hot_tiles": sum(s >= r.threshold for s in r.tile_scores),
                         "hottest_tile_xyxy": " ".join(str(v) for v in hottest),
                         "heat_map": str(r.heatmap_path or "")})
        else:
            bad += 1
            typer.echo(f"error: {r}", err=True)
            rows.append({"path": str(r.path), "error": r.reason})
    if len(found) + len(errors) > 1:
        typer.echo(f"{counts['graffiti'] + counts['clean']} image(s) scored: {counts['graffiti']} graffiti, "
                   f"{counts['clean']} clean; {bad} skipped or failed")
    if csv_path is not None:
        fields = ["path", "max_score", "verdict", "threshold", "tiles", "hot_tiles", "hottest_tile_xyxy",
                  "whole_image_score", "heat_map", "error"]
        try:
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            with open(csv_path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, restval="")
                writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            raise ConfigError(f"--csv {csv_path}: cannot write ({exc.strerror or exc})") from None
        typer.echo(f"wrote {csv_path} ({len(rows)} row(s))")
    if bad:
        raise typer.Exit(1)


outbox_app = typer.Typer(
    help="Look at and act on the device's outbox: what waits, what the receiver rejected (parked).\n\n"
    "Example: graffiti edge outbox list --config /etc/graffiti/edge.toml --state parked",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")

_CONFIG_OPT = typer.Option(..., "--config", "-c", help="The runner's edge.toml (names the outbox).")


def _open_outbox_for_cli(config: Path) -> Outbox:
    from detector.edge.config import load_edge_config
    from detector.edge.delivery.outbox import OutboxError
    from detector.edge.delivery.sender import open_outbox

    cfg = load_edge_config(config)
    if not cfg.delivery.outbox_path.is_file():
        raise OutboxError(f"{cfg.delivery.outbox_path}: no outbox yet (the runner creates it when it first starts)")
    return open_outbox(cfg.delivery, repair=False)


@outbox_app.command("list")
def outbox_list_cmd(
    config: Path = _CONFIG_OPT,
    state: str = typer.Option("", "--state", help="Only items with a sink in this state: pending, parked or delivered."),
) -> None:
    """One line per stored item: id, type, camera, age, and where it stands with each sink.

    Example: graffiti edge outbox list --config /etc/graffiti/edge.toml --state parked
    """
    import time as _time

    from detector.errors import ConfigError

    if state not in ("", "pending", "parked", "delivered"):
        raise ConfigError(f"--state: expected pending, parked or delivered, found {state!r}")
    box = _open_outbox_for_cli(config)
    try:
        items = box.listing(state or None)
        now = _time.time()
        for it in items:
            what = it.type or it.kind
            sinks = "; ".join(_sink_text(name, s, now) for name, s in it.sinks.items())
            typer.echo(f"{it.id}  {what:<17} {it.camera or '-':<12} {_age(now - it.created_at):>6} old  "
                       f"{it.evidence_bytes / 1024:6.0f} KiB  {sinks}")
        counts = box.counts()
        summary = ", ".join(f"{sink}: {c['pending']} pending, {c['parked']} parked, {c['delivered']} delivered"
                            for sink, c in counts.items()) or "empty"
        typer.echo(f"{len(items)} item(s) listed — {summary}")
    finally:
        box.close()


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _sink_text(name: str, s: SinkState, now: float) -> str:
    text = f"{name}: {s.state}"
    if s.attempts:
        text += f" after {s.attempts} try(s)"
    if s.state == "parked":
        text += f", retried automatically in {_age(s.next_attempt_at - now)}" if s.next_attempt_at < 1e17 else ""
    elif s.state == "pending" and s.next_attempt_at > now:
        text += f", next try in {_age(s.next_attempt_at - now)}"
    if s.last_error and s.state != "delivered":
        text += f" ({s.last_error[:120]})"
    return text


@outbox_app.command("retry")
def outbox_retry_cmd(
    ids: list[str] = typer.Argument(None, help="Item ids (or unique starts of them) to put back in the queue."),
    config: Path = _CONFIG_OPT,
    all_parked: bool = typer.Option(False, "--all", help="Every parked item."),
) -> None:
    """Put parked items back in the queue now (after fixing what the receiver rejected).

    Example: graffiti edge outbox retry 3f2a91c0 --config /etc/graffiti/edge.toml
    """
    from detector.errors import ConfigError

    if not ids and not all_parked:
        raise ConfigError("retry: expected item ids or --all")
    box = _open_outbox_for_cli(config)
    try:
        n = box.requeue_parked(ids=None if all_parked and not ids else box.resolve_ids(ids))
    finally:
        box.close()
    typer.echo(f"{n} parked item(s) queued again; the running sender picks them up within seconds")


@outbox_app.command("drop")
def outbox_drop_cmd(
    ids: list[str] = typer.Argument(..., help="Item ids (or unique starts of them) to delete for good."),
    config: Path = _CONFIG_OPT,
) -> None:
    """Delete items and their pictures from the outbox for good (they are never sent).

    Example: graffiti edge outbox drop 3f2a91c0 --config /etc/graffiti/edge.toml
    """
    box = _open_outbox_for_cli(config)
    try:
        n = box.drop(box.resolve_ids(ids))
    finally:
        box.close()
    typer.echo(f"{n} item(s) dropped")
