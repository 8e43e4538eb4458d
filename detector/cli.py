"""The ``graffiti`` command line.

Each sub-command group lives in its subsystem (``detector/<subsystem>/cli.py``), which imports only
typer at module level; heavy libraries (torch, onnxruntime, FastAPI) are imported inside the command
functions, so ``graffiti edge ...`` never loads torch. User mistakes raise ``DetectorError`` and are
printed here as one line (exit status 2), never as a traceback.
"""

from __future__ import annotations

import sys

import typer

from detector.errors import DetectorError

app = typer.Typer(
    name="graffiti",
    help=(
        "Spot graffiti in pedestrian and cycle tunnels.\n\n"
        "Example: graffiti data inspect ../shared/datasets/street-graffiti"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register() -> None:
    """Attach each subsystem's commands. The modules import only typer at top level (lazy subsystems)."""
    from detector.data.cli import app as data_app
    from detector.data.sim.cli import app as sim_app
    from detector.demo.cli import demo_command
    from detector.edge.cli import app as edge_app
    from detector.review.cli import app as review_app
    from detector.train.cli import (
        bank_command,
        eval_command,
        export_command,
        import_onnx_command,
        mine_command,
        rethreshold_command,
        runs_app,
        soup_command,
        train_command,
    )

    # Single commands, in the order a student meets them; the demo last.
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("export")(export_command)
    app.command("rethreshold")(rethreshold_command)
    app.command("bank")(bank_command)
    app.command("soup")(soup_command)
    app.command("import-onnx")(import_onnx_command)
    app.command("demo")(demo_command)
    # Command groups.
    data_app.command("mine")(mine_command)  # scores with a model, so it lives with training
    app.add_typer(data_app, name="data")
    app.add_typer(sim_app, name="sim")
    app.add_typer(edge_app, name="edge")
    app.add_typer(review_app, name="review")
    app.add_typer(runs_app, name="runs")
    # Camera source kinds the edge does not implement itself are handed to it here, so the edge never
    # imports the simulator: ``sim://SEED?...`` cameras (detector/frames.py).
    from detector.data.sim.source import SimSource
    from detector.frames import register_source_kind

    register_source_kind("sim", SimSource.from_url)


_register()


def main() -> None:
    """Console entry point: run the app, turning user errors into one line on stderr (exit 2)."""
    from typer.exceptions import TyperException

    try:
        rv = app(standalone_mode=False)
    except DetectorError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except TyperException as exc:  # click's usage errors (typer vendors click): one line, not a box
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(2)  # the help text has been shown already
        where = ctx.command_path if ctx is not None else "graffiti"
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = " ".join(message.split())
        typer.echo(f"error: {where}: {message} (see '{where} --help')", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if type(exc).__name__ == "Abort":  # e.g. Ctrl-D at a prompt
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
