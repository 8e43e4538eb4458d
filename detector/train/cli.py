"""The training subsystem's commands: ``graffiti train``, ``eval``, ``export``, ``rethreshold`` and
``runs compare``. Only typer is imported at module level; the work (and torch/onnxruntime) is
imported inside each command, so ``graffiti --help`` needs neither."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def train_command(
    data: list[str] = typer.Option(None, "--data", "-d", metavar="SPEC",
                                   help="Dataset PATH[::key=value,...] (format, label, weight, name); repeat for a mix."),
    arch: str = typer.Option(None, help="efficientnet_lite0 (default), efficientnet_lite1, mobilenet_v3_small, mobilenet_v3_large, "
                             "torchvision:<name> or timm:<name> (e.g. torchvision:resnet18, timm:mobilenetv3_small_100)."),
    weights: str = typer.Option(None, help="'imagenet' (the arch's default file on disk), 'hub' (download it; needs "
                                "internet), a state_dict file (.pth/.safetensors), or 'none'."),
    init_from: Path = typer.Option(None, "--from", metavar="CHECKPOINT", help="Continue from one of our checkpoints (.pt)."),
    resume: Path = typer.Option(None, metavar="RUN_DIR", help="Resume an interrupted run from RUN_DIR/last.pt."),
    out: Path = typer.Option(None, metavar="RUN_DIR", help="Run folder to create (default runs/train)."),
    config: Path = typer.Option(None, metavar="YAML", help="Config file; flags override it. A run's config.yaml works."),
    epochs: int = typer.Option(None, help="Maximum number of epochs (default 12)."),
    batch_size: int = typer.Option(None, help="Images per step (per process under torchrun; default 32)."),
    lr: float = typer.Option(None, help="Peak AdamW learning rate (default 3e-4)."),
    seed: int = typer.Option(None, help="Seed for split, sampling, augmentation and init (default 0)."),
    split_seed: int = typer.Option(None, "--split-seed", help="Seed of the splits alone (default: --seed); other "
                                   "--seed values on one split can be compared and souped."),
    max_minutes: float = typer.Option(None, help="Time box: stop after the epoch when another would not fit."),
    workers: int = typer.Option(None, help="DataLoader worker processes (default 0 = in the main process)."),
    device: str = typer.Option(None, help="cpu, cuda or auto (default)."),
    freeze_blocks: int = typer.Option(None, help="Keep the stem and this many first blocks frozen (default 0)."),
    cached_views: int = typer.Option(None, help="With --freeze-blocks: cache this many augmented views per image "
                                     "through the frozen layers and train the rest on them (fast on CPU)."),
    input_px: int = typer.Option(None, help="Model input side in pixels (default 224)."),
    val_fraction: float = typer.Option(None, help="Share of groups for validation when the data has no split (0.15)."),
    test_fraction: float = typer.Option(None, help="Share of groups held out as a test split (default 0)."),
    samples_per_epoch: int = typer.Option(None, help="Images drawn per epoch (default: the training set size)."),
    threads: int = typer.Option(None, help="torch CPU threads (default: torch's choice)."),
    fraction: float = typer.Option(None, help="Quick run: keep about this share of the images (whole groups, every "
                                   "split and class), e.g. 0.1."),
    max_images: int = typer.Option(None, help="Quick run: at most this many images (whole groups)."),
    track: str = typer.Option(None, help="Experiment trackers: tensorboard (default; event files in RUN_DIR/tensorboard), "
                              "mlflow (RUN_DIR/mlruns), 'tensorboard,mlflow' or none."),
) -> None:
    """Fine-tune the classifier on one or more datasets and write a run folder.

    Writes config.yaml, data_manifest.csv (the split), metrics.csv, curves.png, train.log, summary.json, best.pt, last.pt
    and tensorboard/ (view with: tensorboard --logdir runs). Compare runs with: graffiti runs compare runs/*

    Under `torchrun --nproc_per_node N -m detector train ...` it trains with DistributedDataParallel.

    Example: graffiti train --data ../shared/datasets/street-graffiti --data ../shared/datasets/facades-spb::label=clean,weight=2 --epochs 10 --out runs/my-model
    """
    from rich.console import Console

    from detector.errors import require

    require("torch", "train")
    from detector.train.launch import train_main

    overrides = {
        "data": list(data) if data else None, "arch": arch, "weights": weights,
        "init_from": str(init_from) if init_from else None, "out": str(out) if out else None,
        "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "split_seed": split_seed, "max_minutes": max_minutes,
        "workers": workers, "device": device, "freeze_blocks": freeze_blocks, "cached_views": cached_views, "input_px": input_px,
        "val_fraction": val_fraction, "test_fraction": test_fraction, "samples_per_epoch": samples_per_epoch,
        "threads": threads, "track": track, "fraction": fraction, "max_images": max_images,
    }
    console = Console(soft_wrap=True)
    result = train_main(config, overrides, resume, console)
    if result.best_metrics or result.epochs_done:
        typer.echo(f"best checkpoint: {result.best_path}")
    if result.stopped == "interrupted":
        from detector.train.interrupt import EXIT_CODE

        raise typer.Exit(EXIT_CODE)


def eval_command(
    models: list[Path] = typer.Argument(..., help="A checkpoint (.pt; needs torch) or an exported ONNX model (.onnx; "
                                        "no torch); several = one comparison report on the same images."),
    data: list[str] = typer.Option(
        [], "--data", "-d",
        help="Dataset spec PATH[::key=value,...]; repeat for several. Default: a checkpoint's own validation split."),
    split: str = typer.Option(None, "--split", help="val | test | train | all (default: all for --data, val otherwise)."),
    out: Path = typer.Option(None, "--out", "-o", help="Report folder (default: eval/<model name>)."),
    threshold: float = typer.Option(None, "--threshold", help="Operating threshold (default: the model's own)."),
    target_precision: float = typer.Option(
        None, "--target-precision", help="Policy for the thresholds suggested for this data (report only)."),
    max_fpr: float = typer.Option(
        None, "--max-fpr", help="Policy for the thresholds suggested for this data (default 0.02; report only)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per inference call."),
    views: bool = typer.Option(
        True, "--views/--no-views",
        help="Also score each photo as an edge camera view (1280x720, the edge's tiles; view score = hottest tile)."),
    view_size: str = typer.Option(
        None, "--view-size",
        help="Camera view size WIDTHxHEIGHT for the view level, e.g. 1920x1080 (tiles sized to it, as the edge "
             "cuts such a frame; default 1280x720)."),
) -> None:
    """Evaluate a model on datasets: AUROC, AP, precision/recall/F1 and confusion at the threshold,
    calibration, per-source/kind/group breakdown, curves, worst-mistake contact sheets, report.json.

    Example: graffiti eval models/graffiti-default.onnx --data ../shared/datasets/street-graffiti --out eval/street

    Several models: graffiti eval a.onnx b.onnx --data DATA --out eval/ab  (OUT/comparison.md, .json, roc.png)
    """
    if len(models) > 1:
        from detector.train.eval_compare import compare_models, markdown_table

        compared = compare_models(models, data, out_dir=out, split=split, threshold=threshold,
                                  target_precision=target_precision, max_fpr=max_fpr, batch_size=batch_size,
                                  view_size=_view_size(view_size))
        typer.echo(markdown_table(compared.rows))
        typer.echo(f"comparison: {compared.files['md']} (one report folder per model under {compared.out_dir})")
        return
    model = models[0]
    from detector.train.evaluation import evaluate

    result = evaluate(model, data, split=split, out_dir=out, threshold=threshold, target_precision=target_precision,
                      max_fpr=max_fpr, batch_size=batch_size, views=views, view_size=_view_size(view_size))
    print_summary(result.report)
    typer.echo(f"report: {result.out_dir / 'report.json'}")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def print_summary(report: dict[str, Any]) -> None:
    """A table: overall, then each source and kind, at the threshold used."""
    from rich.console import Console
    from rich.table import Table

    counts = report["counts"]
    table = Table(title=f"{report['model']['path']} @ threshold {report['threshold']:.4f} ({report['threshold_source']})")
    for col in ("subset", "images", "graffiti", "clean", "AUROC", "AP", "precision", "recall", "FPR", "ECE"):
        table.add_column(col, justify="left" if col == "subset" else "right")

    def row(name: str, d: dict[str, Any]) -> None:
        table.add_row(name, str(d["n"]), str(d["n_graffiti"]), str(d["n_clean"]), _fmt(d["auroc"]),
                      _fmt(d["average_precision"]), _fmt(d["precision"]), _fmt(d["recall"]), _fmt(d["fpr"]),
                      _fmt(d["ece"]))

    row("all", report["metrics"])
    for key, label in (("by_source", "source"), ("by_kind", "kind")):
        if len(report[key]) > 1:
            for name, d in report[key].items():
                row(f"{label}={name}", d)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped or logged: do not squeeze the table to 80 columns
    console.print(table)
    suggested = report.get("suggested_thresholds") or {}
    if "threshold" in suggested:
        console.print(f"on this data, {suggested['policy']} {suggested['target']} would choose threshold "
                      f"{suggested['threshold']:.4f} (recall {_fmt(suggested['recall'])}, FPR {_fmt(suggested['fpr'])})")
    view = report.get("view_level")
    if view:
        console.print(view_lines(view))
    kinds = report.get("false_positives_by_kind") or []
    if len(kinds) > 1:
        from detector.train.kindfp import kind_lines

        console.print(kind_lines(kinds, report["threshold"]), highlight=False)
    if counts["unreadable"]:
        console.print(f"[yellow]{counts['unreadable']} unreadable image(s) skipped (listed in report.json)[/yellow]")
    leak = (report.get("leak_guard") or {}).get("warning")
    if leak:
        console.print(f"[yellow]warning: {leak}[/yellow]", soft_wrap=True)
    if report.get("in_training_split"):
        console.print(f"[yellow]warning: {report['in_training_split']} evaluated image(s) are in this "
                      "checkpoint's training split; use its validation split for honest figures[/yellow]")


def _view_size(text: str | None) -> tuple[int, int] | None:
    """``--view-size WIDTHxHEIGHT`` as (width, height); a malformed one is a one-line error."""
    from detector.tiling import parse_frame_size

    return None if text is None else parse_frame_size(text, "--view-size")


def _rate(k: int, n: int) -> str:
    return f"{k / n:.4f} ({k}/{n})" if n else "-"


def view_lines(view: dict[str, Any]) -> str:
    """The view-level figures as a few lines (also used by export)."""
    v = view["view"]
    lines = [f"view level (each photo as a {v['view_px'][0]}x{v['view_px'][1]} camera view, {v['tile_px']}-px tiles, "
             f"overlap {v['overlap']:g}; flagged = any tile >= {view['threshold']:.4f}): "
             f"FPR {_rate(view['false_positives'], view['n_clean'])}, "
             f"recall {_rate(view['detected'], view['n_graffiti'])}, AUROC {_fmt(view['auroc'])}"]
    if len(view.get("by_source", {})) > 1:
        for name, d in view["by_source"].items():
            lines.append(f"  source={name}: FPR {_rate(d['false_positives'], d['n_clean'])}, "
                         f"recall {_rate(d['detected'], d['n_graffiti'])}")
    suggested = view.get("suggested_thresholds") or {}
    if "threshold" in suggested:
        lines.append(f"  on this data, view-level {suggested['policy']} {suggested['target']} would choose threshold "
                     f"{suggested['threshold']:.4f} (view recall {_fmt(suggested['recall'])}, view FPR {_fmt(suggested['fpr'])})")
    return "\n".join(lines)


def export_command(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (.pt) from 'graffiti train'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output ONNX file, e.g. models/NAME.onnx."),
    name: str = typer.Option(None, "--name", help="Model name in the metadata (default: the file name)."),
    version: str = typer.Option("1", "--version", help="Model version in the metadata."),
    target_precision: float = typer.Option(
        None, "--target-precision", help="Pick the lowest threshold with at least this precision on validation."),
    max_fpr: float = typer.Option(
        None, "--max-fpr", help="Pick the lowest threshold flagging at most this fraction of clean validation "
                                "images (default policy, 0.02)."),
    int8: bool = typer.Option(False, "--int8", help="Also write <out>-int8.onnx, statically quantized."),
    calib: list[str] = typer.Option([], "--calib", help="Calibration dataset spec(s) for --int8 (train rows are used)."),
    calib_method: str = typer.Option(
        "minmax", "--calib-method", help="Activation ranges for --int8: minmax | percentile | entropy."),
    calib_images: int = typer.Option(
        0, "--calib-images", help="Calibration images for --int8 (0 = 256, a fixed random subset when more)."),
    allow_degraded: bool = typer.Option(
        False, "--allow-degraded", help="Keep an int8 model the guard refuses (recorded in its metadata)."),
    threshold_level: str = typer.Option(
        "view", "--threshold-level",
        help="view (default): --max-fpr counts clean validation photos shown as camera views with any tile over the "
             "threshold (what the edge alerts on); photo: counts whole photos."),
    int8_thresholds: str = typer.Option(
        "match", "--int8-thresholds",
        help="match (default): the int8 copy's thresholds reproduce the fp32 model's decisions on the validation "
             "photos and their view tiles (the same operating point); own: the policy again on int8 scores."),
    int8_float_tail: str = typer.Option(
        "fc", "--int8-float-tail",
        help="What the int8 copy keeps in float: fc (the classifier) or conv (also the pooling and the last "
             "convolution, about 5 % of the multiply-adds)."),
    int8_float_front: int = typer.Option(
        3, "--int8-float-front", min=0,
        help="How many convolutions from the input the int8 copy keeps in float (default 3: EfficientNet-Lite0's stem "
             "and block 0, where int8 loses most on low-contrast IR views, for a few per cent of the multiply-adds); 0: none."),
    int8_full_range: bool = typer.Option(
        False, "--int8-full-range",
        help="Quantize the int8 copy's weights on the full 8 bits instead of 7: a little finer on CPUs with VNNI or "
             "ARM, but x86 CPUs without VNNI (AVX2 only) saturate on them and read it further from fp32."),
) -> None:
    """Export a checkpoint to ONNX with the model contract in its metadata, after a torch/onnxruntime
    parity check on validation images; thresholds are chosen on the validation split.

    Example: graffiti export runs/default/best.pt --out models/graffiti-default.onnx --max-fpr 0.02 --int8 --calib runs/default/data_manifest.csv
    """
    from detector.train.onnx_export import export_model

    result = export_model(checkpoint, out, name=name, version=version, target_precision=target_precision,
                          max_fpr=max_fpr, int8=int8, calib=calib, calib_method=calib_method,
                          allow_degraded=allow_degraded, threshold_level=threshold_level,
                          int8_thresholds=int8_thresholds, int8_float_tail=int8_float_tail,
                          calib_images=calib_images, int8_reduce_range=not int8_full_range,
                          int8_float_front=int8_float_front)
    for exported in (result.fp32, result.int8):
        if exported is None:
            continue
        v = exported.validation
        matched = exported.meta.extra.get("matched_to_fp32")
        if matched:
            typer.echo(f"{exported.path.name}: thresholds matched to fp32 on {matched['n']} validation photos and "
                       f"tiles: {matched['disagree']} decisions differ at the threshold, "
                       f"{matched['disagree_clean']} at the clean threshold")
        typer.echo(
            f"wrote {exported.path} ({exported.meta.quantization}): threshold {exported.meta.threshold:.4f}, "
            f"clean {exported.meta.clean_threshold:.4f}; validation n={v['n']} AUROC {_fmt(v['auroc'])} "
            f"recall {_fmt(v['recall'])} FPR {_fmt(v['fpr'])} precision {_fmt(v['precision'])}")
        if v.get("view_level"):
            typer.echo(view_lines(v["view_level"]))
    typer.echo(f"parity torch vs onnxruntime: max |Δp| {result.parity_max_abs_diff:.2e} on {result.parity_images} images")
    if result.int8 is not None and result.int8.meta.extra.get("degraded"):
        typer.echo("warning: int8 model kept with --allow-degraded: " + "; ".join(result.int8.meta.extra["guard"]["failures"]))


def rethreshold_command(
    model: Path = typer.Argument(..., help="An exported ONNX model (.onnx); its network is not changed."),
    data: list[str] = typer.Option(..., "--data", "-d", help="The model's validation images (dataset spec; repeat)."),
    split: str = typer.Option("val", "--split", help="Which split of --data to choose on (val | test | train | all)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write here instead of replacing MODEL."),
    target_precision: float = typer.Option(None, "--target-precision", help="Lowest threshold with this precision."),
    max_fpr: float = typer.Option(None, "--max-fpr", help="Lowest threshold flagging at most this share of clean "
                                                          "validation views/photos (default policy, 0.02)."),
    threshold_level: str = typer.Option("view", "--threshold-level", help="view (default) or photo."),
    min_side: int = typer.Option(360, "--min-side", help="Only photos at least this many px on the shorter side are "
                                                         "shown as camera views (smaller scenes are one tile)."),
    match: Path = typer.Option(None, "--match", help="Match another model's operating point instead of a policy: "
                               "e.g. an int8 copy to its fp32 model (same decisions on the photos and view tiles)."),
) -> None:
    """Re-choose an exported model's thresholds on its validation split, by default on view-level false
    positives (each photo shown as a 1280x720 camera view, any tile over the threshold).

    Example: graffiti rethreshold models/graffiti-effnetlite0.onnx --data runs/default-data/street-graffiti.csv --data runs/default-data/facades-spb.csv --max-fpr 0.02

    Example: graffiti rethreshold models/graffiti-effnetlite0-int8.onnx --match models/graffiti-effnetlite0.onnx --data runs/default-data/street-graffiti.csv --data runs/default-data/facades-spb.csv --data runs/default-data/synth.csv
    """
    from detector.train.rethreshold import rethreshold

    result = rethreshold(model, data, split=split, out=out, target_precision=target_precision, max_fpr=max_fpr,
                         threshold_level=threshold_level, min_side_px=min_side, match=match)
    v = result.validation
    matched = result.meta.extra.get("matched_to")
    if matched:
        typer.echo(f"matched to {match.name} on {matched['n']} photos and view tiles: {matched['disagree']} decisions "
                   f"differ at the threshold ({matched['reference_threshold']:.4f} there), {matched['disagree_clean']} "
                   f"at the clean threshold")
    typer.echo(f"wrote {result.path}: threshold {result.previous['threshold']:.4f} -> {result.meta.threshold:.4f}, "
               f"clean {result.previous['clean_threshold']:.4f} -> {result.meta.clean_threshold:.4f} "
               f"({threshold_level} level); photo level on {split}: n={v['n']} AUROC {_fmt(v['auroc'])} "
               f"recall {_fmt(v['recall'])} FPR {_fmt(v['fpr'])}")
    typer.echo(view_lines(v["view_level"]))


def bank_command(
    model: Path = typer.Argument(..., help="An exported ONNX model (.onnx), fp32 or int8, without a bank yet."),
    data: list[str] = typer.Option(..., "--data", "-d", help="Training photos for the bank (its --split) and their "
                                                             "validation split for the new thresholds (repeat)."),
    out: Path = typer.Option(..., "--out", "-o", help="The banked model to write (.onnx)."),
    split: str = typer.Option("train", "--split", help="Which split of --data fills the bank (never the one you "
                                                         "evaluate on)."),
    k: int = typer.Option(5, "--k", help="Neighbours that vote."),
    clean_min: float = typer.Option(0.05, "--clean-min", help="Tiles of clean photos the model reads at or above "
                                                               "this join the clean bank."),
    hot: float = typer.Option(0.9, "--hot", help="Tiles of graffiti photos the model reads at or above this join "
                                                  "the paint bank."),
    min_side: int = typer.Option(360, "--min-side", help="Only photos at least this many px on the shorter side "
                                 "fill the bank and choose view-level thresholds (smaller scenes are not views)."),
    max_fpr: float = typer.Option(None, "--max-fpr", help="Threshold policy on the validation split (default 0.02)."),
    target_precision: float = typer.Option(None, "--target-precision", help="Or: lowest threshold with this precision."),
    threshold_level: str = typer.Option("photo", "--threshold-level", help="photo (default, as the bundled model) "
                                                                           "or view."),
    bank_dtype: str = typer.Option("int8", "--bank-dtype", help="int8 (default, a quarter of the memory) or float32."),
    thresholds: str = typer.Option("keep", "--thresholds", help="keep (default: the network's thresholds; the bank "
                                   "only vetoes) or policy (re-chosen by --max-fpr/--target-precision)."),
    veto: str = typer.Option("alert", "--veto", help="alert (default: a quietened tile is held just under the "
                             "threshold; tiles under it keep the network's score) or score (down to 0; needed with "
                             "--thresholds policy). Both flag the same tiles."),
) -> None:
    """Give a model a memory of clean walls: every tile of the clean training photos (and the hot tiles of the
    graffiti ones) kept in the model's own feature space; a hot tile whose k nearest bank tiles are mostly clean
    is held just under the threshold (score = min(score, max(share of paint among them, just under the
    threshold))). The network's thresholds are kept (--thresholds policy re-chooses them, with --veto score); what
    they give is measured on the validation split.

    Example: graffiti bank models/graffiti-effnetlite0.onnx --data runs/default-data/street-graffiti.csv --data runs/default-data/facades-spb.csv --out runs/bank/graffiti-effnetlite0-bank.onnx
    """
    from detector.train.bank import bank_model

    bank, result = bank_model(model, data, out, split=split, k=k, clean_min=clean_min, hot=hot, min_side_px=min_side,
                              max_fpr=max_fpr, target_precision=target_precision, threshold_level=threshold_level,
                              threshold_min_side_px=min_side, dtype=bank_dtype, thresholds=thresholds, veto=veto)
    i = bank.info
    v = result.validation
    held = f", a vetoed tile held at {result.meta.extra['clean_bank']['floor']:.4f}" if veto == "alert" else ""
    typer.echo(f"bank: {i['clean_tiles']} clean tiles (score >= {i['clean_min']:g}) and {i['paint_tiles']} paint "
               f"tiles (score >= {i['hot']:g}) from {i['photos']} photos of split {split!r}, k={i['k']}{held}")
    typer.echo(f"wrote {result.path}: threshold {result.previous['threshold']:.4f} -> {result.meta.threshold:.4f}, "
               f"clean {result.previous['clean_threshold']:.4f} -> {result.meta.clean_threshold:.4f} "
               f"({'kept' if thresholds == 'keep' else threshold_level + ' level'}); photo level on val: n={v['n']} AUROC {_fmt(v['auroc'])} "
               f"recall {_fmt(v['recall'])} FPR {_fmt(v['fpr'])}")
    typer.echo(view_lines(v["view_level"]))


def import_onnx_command(
    model: Path = typer.Argument(..., help="An fp32 ONNX model made by 'graffiti export' (e.g. the bundled "
                                 "models/graffiti-effnetlite0.onnx)."),
    out: Path = typer.Option(..., "--out", "-o", help="The checkpoint to write (.pt), for 'graffiti train --from'."),
) -> None:
    """Read an exported model's weights back into a training checkpoint, to fine-tune a model you only have
    as ONNX (the bundled one). Its BatchNorm was folded on export, so training from it keeps the BatchNorm
    statistics fixed (freeze_bn, set by --from); the rebuilt network is checked against ONNX Runtime.

    Example: graffiti import-onnx models/graffiti-effnetlite0.onnx --out runs/bundled/imported.pt

    Then: graffiti train --config my.yaml --from runs/bundled/imported.pt
    """
    from detector.errors import require

    require("torch", "train")
    from detector.train.onnx_import import import_onnx

    r = import_onnx(model, out)
    typer.echo(f"wrote {r.path}: {r.arch}, {r.convs} convolutions ({r.batchnorms_folded} with a folded BatchNorm), "
               f"{r.linears} linear layer(s); scores match ONNX Runtime within {r.max_abs_diff:.1g}; "
               f"the model's threshold was {r.threshold:.4f}")


def soup_command(
    checkpoints: list[Path] = typer.Argument(..., help="Two or more training checkpoints (.pt) of one architecture, "
                                             "trained with one validation split; the last one's data record is kept."),
    out: Path = typer.Option(..., "--out", "-o", help="The averaged checkpoint to write (.pt), for graffiti export."),
    weight: list[float] = typer.Option([], "--weight", "-w", help="One weight per checkpoint, in order (normalised "
                                       "to sum 1; default: equal)."),
) -> None:
    """Average fine-tuned checkpoints' weights into one ("model soup"): one network, no extra cost on the edge.
    Layers equal in every checkpoint (the frozen prefix) are kept as they are.

    Example: graffiti soup runs/effnetlite0-v3/best.pt runs/effnetlite0-v5/best.pt --weight 0.85 --weight 0.15 --out runs/soup/best.pt

    Then: graffiti export runs/soup/best.pt --out models/soup.onnx --threshold-level photo
    """
    from detector.train.soup import make_soup

    s = make_soup(checkpoints, weight, out)
    mix = ", ".join(f"{p} x {w:.3f}" for p, w in zip(checkpoints, s.weights, strict=True))
    typer.echo(f"wrote {s.out}: {mix}; {s.tensors_mixed} tensors averaged, {s.tensors_same} equal in all (kept)")


# --------------------------------------------------------------------------- graffiti runs ...
runs_app = typer.Typer(help="Training runs: compare run folders side by side.\n\nExample: graffiti runs compare runs/*",
                  no_args_is_help=True)


@runs_app.command("compare")
def compare_command(
    runs: list[Path] = typer.Argument(..., help="Run folders (each holds config.yaml, summary.json, metrics.csv)."),
    out: Path = typer.Option(Path("runs/compare"), "--out", "-o",
                             help="Folder for compare.png, compare.csv and compare.json."),
) -> None:
    """Print the runs side by side (the config keys that differ, best validation figures, speed) and plot them.

    Example: graffiti runs compare runs/*
    """
    from detector.train.runs_compare import compare_runs, format_table

    result = compare_runs(runs, out)
    if result.skipped:
        typer.echo("skipped (not run folders): " + ", ".join(str(p) for p in result.skipped))
    if result.varied:
        typer.echo("differing settings: " + ", ".join(result.varied))
    else:
        typer.echo("all runs have the same settings")
    typer.echo(format_table(result.rows))
    typer.echo(f"wrote {result.files['png']} and {result.files['csv']}")


_DATA_SPEC_HELP = (
    "Dataset folder, manifest CSV or spec PATH[::format=...,label=...,name=...]; "
    "the format is detected (roboflow, manifest, imagefolder, folder)."
)


def mine_command(
    model: Path = typer.Argument(..., help="The model whose mistakes to mine: an ONNX file or a training checkpoint."),
    data: list[str] = typer.Option(..., "--data", help=_DATA_SPEC_HELP + " Repeat for several datasets."),
    out: Path = typer.Option(..., "--out", help="Folder to write: clean/*.jpg (or graffiti/*.jpg), manifest.csv and "
                                                "mined.png."),
    n: int = typer.Option(1000, "--n", min=1, help="Tiles to keep, hottest first."),
    per_photo: int = typer.Option(3, "--per-photo", min=1, help="At most this many tiles from one photo."),
    min_score: float = typer.Option(0.05, "--min-score", min=0.0, max=1.0,
                                    help="Tiles scoring below this are not kept (they teach nothing)."),
    split: list[str] = typer.Option(["train"], "--split",
                                    help="Mine the clean photos of this split (repeatable). Mining val/test photos "
                                         "would leak them into training."),
    name: str = typer.Option("mined", "--name", help="Source name of the mined tiles in the manifest."),
    label: str = typer.Option("clean", "--label",
                              help="clean: hard negatives (the hottest tiles of clean photos); graffiti: tile-scale "
                                   "positives (the hottest tile of each graffiti photo, e.g. --per-photo 1)."),
    sheet_max: int = typer.Option(60, "--sheet-max", min=0,
                                  help="Tiles on the contact sheet mined.png, hottest first; 0 = every tile, 100 to "
                                       "a sheet (mined-1.png, ...), to look at all of them before training."),
) -> None:
    """Hard negatives between training rounds: score every clean photo as the edge's camera view (1280x720,
    its tiles) and write the hottest tiles as a clean dataset that keeps each photo's group and split.
    With --label graffiti: the hottest tile of each graffiti photo, as tile-scale positives.

    Example: graffiti data mine models/graffiti-effnetlite0.onnx --data runs/default-data/facades-spb.csv
    --data runs/default-data/street-graffiti.csv --out runs/mined --n 1000

    Then train with it: add runs/mined/manifest.csv to the training data (e.g. --data runs/mined/manifest.csv).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from detector.data.cli import _not_empty
    from detector.data.formats import load_dataset
    from detector.data.sample import CLEAN, GRAFFITI
    from detector.errors import ConfigError
    from detector.train.mine import mine_tiles
    from detector.train.scorers import open_scorer

    bad = sorted(set(split) - {"train", "val", "test"})
    if bad:
        raise ConfigError(f"--split {bad[0]}: expected train, val or test")
    if label not in ("clean", "graffiti"):
        raise ConfigError(f"--label {label}: expected clean or graffiti")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: the folder exists and is not empty; give a new folder")
    samples = []
    for spec in data:
        samples += _not_empty(load_dataset(spec), spec)
    scorer = open_scorer(model)
    with Progress(TextColumn("writing tiles"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task("write", total=n)
        summary = mine_tiles(samples, scorer, out, n=n, per_photo=per_photo, min_score=min_score, splits=split,
                             source=name, label=CLEAN if label == "clean" else GRAFFITI,
                             on_written=lambda k: bar.update(task, completed=k), sheet_max=sheet_max)
    for path in summary.unreadable:
        typer.echo(f"skipped unreadable image: {path}", err=True)
    q = ", ".join(f"{k} {v:.3f}" for k, v in summary.score_quantiles.items())
    typer.echo(f"scored {summary.tiles} tiles of {summary.photos} {label} photos ({q})")
    if summary.too_small:
        typer.echo(f"left out {summary.too_small} {label} images under 360 px (a scene that small is one tile, "
                   "not a camera view)")
    if summary.chosen:
        typer.echo(f"kept {len(summary.chosen)} tiles, scores {summary.chosen[0].score:.3f} .. "
                   f"{summary.chosen[-1].score:.3f}, from {len({m.parent.path for m in summary.chosen})} photos")
    else:
        typer.echo(f"kept no tiles: none scored {min_score:g} or more")
    typer.echo(f"manifest: {summary.manifest}")
    if len(summary.sheets) == 1:
        typer.echo(f"contact sheet: {summary.sheets[0]}")
    elif summary.sheets:
        typer.echo(f"contact sheets: {len(summary.sheets)} ({summary.sheets[0]} .. {summary.sheets[-1]})")
