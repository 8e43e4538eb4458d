"""``graffiti edge ...``: run the device, check its config, score single images.

Imports only typer at module level; onnxruntime/OpenCV load inside the commands (never torch).
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="The edge runner: watch tunnel cameras, report graffiti once, keep events until delivered.\n\n"
    "Example: graffiti edge run --config edge.toml",
    no_args_is_help=True,
)


@app.command("run")
def run_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="edge.toml or edge.yaml"),
    fast: bool = typer.Option(False, "--fast/--realtime",
                              help="Files only: process as fast as the CPU allows (same decisions, file clock)."),
    log_format: str = typer.Option("text", "--log-format", help="text or json (one JSON object per line)."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Run the cameras until SIGTERM/SIGINT (or, with --fast on files, until they end).

    Example: graffiti edge run --config /etc/graffiti/edge.toml --log-format json
    """
    from detector.edge.config import load_edge_config
    from detector.edge.logs import setup_logging
    from detector.edge.runner import run_edge
    from detector.errors import ConfigError

    if log_format not in ("text", "json"):
        raise ConfigError(f"--log-format: expected 'text' or 'json', found {log_format!r}")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"--log-level: expected debug, info, warning or error, found {log_level!r}")
    setup_logging(log_format, log_level)
    cfg = load_edge_config(config)
    raise typer.Exit(run_edge(cfg, realtime=not fast))


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
        typer.echo(f"  {name}: {redact_url(cam.source)} every {cam.interval_s:g} s, tiles {cam.tiling.tile_px} px, "
                   f"threshold {thr}, watch {len(cam.watch)} / ignore {len(cam.ignore)} / accepted "
                   f"{len(cam.accepted)} polygon(s)")
        w = cam.wall
        wall = (f"wall model: a change enters after {(w.slots // 2 + 1) * w.slot_s:g} s ({w.slots} slots of "
                f"{w.slot_s:g} s), baseline over {w.commission_s:g} s, evidence needs score >= baseline + "
                f"{w.score_margin:g} and {w.change_fraction:.0%} of the tile changed" if w.enabled
                else "wall model: off (every sample's live tiles are scored)")
        d = cam.decision
        typer.echo(f"    {wall}; decision: median of {d.window}, confirm {d.confirm_s:g} s, clean {d.clean_s:g} s")


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
    images: list[Path] = typer.Argument(..., help="Image files to score."),
    model: Path = typer.Option(None, "--model", "-m", help="ONNX model with the contract (default: the bundled "
                               "models/graffiti-effnetlite0.onnx, found from any folder)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for <image>.heat.png overlays (default: none written)."),
    tile_px: int = typer.Option(320, "--tile-px", help="Tile size in image pixels."),
    overlap: float = typer.Option(0.25, "--overlap", help="Tile overlap (fraction)."),
    threads: int = typer.Option(4, "--threads", help="onnxruntime intra-op threads."),
) -> None:
    """Score images tile by tile: max score and verdict per image, and a heat-map PNG with --out.

    Example: graffiti edge score wall1.jpg wall2.jpg --model models/graffiti-effnetlite0.onnx --out heat/
    """
    from detector.bundled import model_or_bundled
    from detector.config import check_range
    from detector.edge.score import ImageScore, score_images
    from detector.edge.session import ModelSession

    check_range(tile_px, "--tile-px", 16, 4096)
    check_range(overlap, "--overlap", 0.0, 0.9)
    session = ModelSession(model_or_bundled(model), threads)
    bad = 0
    for path in images:
        if not path.is_file():  # say what is wrong: a missing file is not an unreadable one
            bad += 1
            typer.echo(f"error: {path}: {'is a folder, not an image file' if path.is_dir() else 'not found'}, skipped",
                       err=True)
    for r in score_images(session, [p for p in images if p.is_file()], out, tile_px, overlap):
        if isinstance(r, ImageScore):
            heat = f"  heat map: {r.heatmap_path}" if r.heatmap_path else ""
            typer.echo(f"{r.path}: max {r.max_score:.3f} over {len(r.tiles)} tile(s) → {r.verdict} "
                       f"(threshold {r.threshold:.3f}){heat}")
        else:
            bad += 1
            typer.echo(f"error: {r}", err=True)
    if bad:
        raise typer.Exit(1)
