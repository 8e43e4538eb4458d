"""``graffiti review ...``: run the review service, manage operators and devices, export decisions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from detector.review.migrations import Database

app = typer.Typer(
    help="The review service and operator web page.\n\n"
    "Example: graffiti review serve --data review-data --port 8080",
    no_args_is_help=True,
)

DATA_HELP = "Folder holding the database, evidence pictures and session key (created if missing)."
DB_HELP = "Database URL instead of DATA/review.sqlite3, e.g. postgresql+psycopg://user@host/review."
DataOpt = typer.Option(Path("review-data"), "--data", envvar="GRAFFITI_REVIEW_DATA", help=DATA_HELP)
DbOpt = typer.Option(None, "--db", envvar="GRAFFITI_REVIEW_DB", help=DB_HELP)


def _database(data: Path, db: str | None) -> Database:
    """The review database for one command (``with _database(...) as database:``)."""
    from detector.errors import require

    require("sqlalchemy", "review")
    from detector.review.migrations import open_database
    from detector.review.settings import load_settings

    return open_database(load_settings(data, db))


@app.command()
def serve(
    data: Path = DataOpt,
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8080, help="TCP port."),
    db: str | None = DbOpt,
    max_request_mb: float = typer.Option(12.0, help="Largest event upload (all parts together), MiB."),
    max_file_mb: float = typer.Option(4.0, help="Largest single evidence picture, MiB."),
    online_after_s: float = typer.Option(180.0, help="A camera counts as online while its device's last heartbeat is this recent."),
    secure_cookies: bool = typer.Option(False, help="Mark the session cookie Secure (serve over HTTPS)."),
    workers: int = typer.Option(1, help="Worker processes (sessions and the login limiter live in the database, "
                                "so they answer as one; on SQLite writes still take turns)."),
    trusted_proxy: list[str] = typer.Option([], "--trusted-proxy", help="Address of a reverse proxy whose "
                                            "X-Forwarded-For names the client (repeat for several)."),
    durable: bool = typer.Option(True, "--durable/--no-fsync", hidden=True,
                                 help="--no-fsync answers 201 before the evidence and row are on disk "
                                      "(only to measure what durability costs: scripts/bench_review.py)."),
) -> None:
    """Serve the device API, the operator page and the API docs (/docs).

    Example: graffiti review serve --data review-data --host 0.0.0.0 --port 8080
    """
    from detector.errors import ConfigError, require

    require("fastapi", "review")
    require("uvicorn", "review")
    import math

    import uvicorn

    from detector.review.app import create_app
    from detector.review.settings import load_settings

    for option, value in (("--max-request-mb", max_request_mb), ("--max-file-mb", max_file_mb)):
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{option}: expected a number > 0, found {value:g}")
    if not (online_after_s > 0 and math.isfinite(online_after_s)):
        raise ConfigError(f"--online-after-s: expected a number of seconds > 0, found {online_after_s:g}")
    if not 1 <= workers <= 64:
        raise ConfigError(f"--workers: expected 1 to 64 processes, found {workers}")
    proxies = _check_proxies(trusted_proxy)
    _check_listen(host, port)
    overrides = dict(max_request_bytes=int(max_request_mb * 1024 * 1024),
                     max_file_bytes=int(max_file_mb * 1024 * 1024), online_after_s=online_after_s,
                     secure_cookies=secure_cookies, trusted_proxies=proxies, durable=durable)
    settings = load_settings(data, db, **overrides)  # type: ignore[arg-type]
    app_ = create_app(settings)  # opens and migrates the database: a bad --db fails here, before the banner
    typer.echo(f"review service: http://{host}:{port}/  (data {data}, API docs /docs"
               + (f", {workers} workers)" if workers > 1 else ")"))
    if workers == 1:
        uvicorn.run(app_, host=host, port=port, log_level="info", proxy_headers=False)
        return
    import json
    import os

    # Each worker builds its own app from the same settings (passed through the environment).
    os.environ["GRAFFITI_REVIEW_DATA"] = str(data)
    os.environ["GRAFFITI_REVIEW_DB"] = settings.db_url
    os.environ["GRAFFITI_REVIEW_SETTINGS"] = json.dumps({**overrides, "trusted_proxies": list(proxies)})
    uvicorn.run("detector.review.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=False)


def _check_proxies(values: list[str]) -> tuple[str, ...]:
    import ipaddress

    from detector.errors import ConfigError

    out = []
    for v in values:
        for item in v.split(","):
            item = item.strip()
            try:
                out.append(str(ipaddress.ip_address(item)))
            except ValueError:
                raise ConfigError(f"--trusted-proxy: expected an IP address like 127.0.0.1, found {item!r}") from None
    return tuple(out)


def _check_listen(host: str, port: int) -> None:
    """A bad --port/--host (out of range, unknown address, already in use) as one line, not uvicorn's log."""
    import socket

    from detector.errors import ConfigError

    if not 1 <= port <= 65535:
        raise ConfigError(f"--port: expected a TCP port in [1, 65535], found {port}")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host!r}: not an address of this machine ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is fine
        try:
            sock.bind(addr)
        except OSError as exc:
            raise ConfigError(f"--host/--port {host}:{port}: cannot listen there ({exc.strerror})") from None


@app.command("add-user")
def add_user(
    name: str = typer.Argument(..., help="Operator user name."),
    data: Path = DataOpt,
    db: str | None = DbOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Create an operator account (or set a new password for an existing one).

    Example: graffiti review add-user alice --data review-data
    """
    from detector.review import store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        except typer.Abort:  # end of input (nothing piped, no terminal) rather than Ctrl-C's "Aborted."
            from detector.errors import ConfigError

            raise ConfigError("password: none given (input ended); type it at the prompt or pipe it with "
                              "--password-stdin") from None
    with _database(data, db) as database:
        store.add_user(database.sm, name, password)
    typer.echo(f"operator {name!r} can now sign in")


@app.command("add-device")
def add_device(
    cameras: list[str] | None = typer.Argument(None, help="Camera name(s) this device reports (at least one)."),
    device: str = typer.Option(..., "--device", help="Device name (as in the edge runner's config)."),
    data: Path = DataOpt,
    db: str | None = DbOpt,
    new_token: bool = typer.Option(False, "--new-token", help="Issue a new token for an existing device (the old one stops working)."),
) -> None:
    """Register a device and its cameras; prints its API token once (only a hash is stored).

    Example: graffiti review add-device north-portal south-portal --device pi-tunnel-7 --data review-data
    """
    from detector.errors import ConfigError
    from detector.review import store

    if not cameras:
        raise ConfigError("add-device: expected at least one CAMERA name, e.g. "
                          "graffiti review add-device north-portal --device pi-tunnel-7")
    with _database(data, db) as database:
        token = store.add_device(database.sm, device, cameras, new_token)
    if token is None:
        typer.echo(f"device {device!r} may now report: {', '.join(cameras)} (its token is unchanged)")
        return
    typer.echo(f"device {device!r} may report: {', '.join(cameras)}", err=True)
    typer.echo("token (shown once; put it in the edge runner's sink config):", err=True)
    typer.echo(token)


@app.command("remove-user")
def remove_user(
    name: str = typer.Argument(..., help="Operator user name."),
    data: Path = DataOpt,
    db: str | None = DbOpt,
) -> None:
    """Remove an operator; every session of theirs ends at once. Their decisions stay in the audit trail.

    Example: graffiti review remove-user bob --data review-data
    """
    from detector.review import store

    with _database(data, db) as database:
        ended = store.remove_user(database.sm, name)
    typer.echo(f"operator {name!r} removed ({ended} signed-in session{'s' if ended != 1 else ''} ended)")


@app.command("remove-device")
def remove_device(
    device: str = typer.Argument(..., help="Device name."),
    data: Path = DataOpt,
    db: str | None = DbOpt,
) -> None:
    """Remove a device: its token stops working at once; its events stay.

    Example: graffiti review remove-device pi-tunnel-7 --data review-data
    """
    from detector.review import store

    with _database(data, db) as database:
        store.remove_device(database.sm, device)
    typer.echo(f"device {device!r} removed; its token no longer works (its events stay)")


@app.command()
def export(
    out: Path = typer.Option(..., "--out", help="Output folder (images + manifest.csv)."),
    data: Path = typer.Option(Path("review-data"), "--data", envvar="GRAFFITI_REVIEW_DATA",
                              help="The review service's data folder (it must hold review.sqlite3)."),
    db: str | None = DbOpt,
    since: str | None = typer.Option(None, help="Only alerts decided at or after this ISO 8601 time."),
) -> None:
    """Export operator decisions as a training dataset: confirmed alerts' flagged tiles as graffiti,
    rejected alerts' tiles as hard negatives, grouped by camera.

    Example: graffiti review export --data review-data --out datasets/review-2026-11 && graffiti data inspect datasets/review-2026-11
    """
    from detector.errors import ConfigError
    from detector.review.dataset_export import export_dataset
    from detector.review.settings import DB_FILE, load_settings

    if db is None and not (data / DB_FILE).is_file():  # do not create an empty service folder by mistake
        raise ConfigError(f"--data {data}: no review database {DB_FILE} here; expected the folder that "
                          "`graffiti review serve --data` uses")
    settings = load_settings(data, db)
    with _database(data, db) as database:
        result = export_dataset(database.sm, settings.evidence_dir, out, since, show_progress=True)
    typer.echo(f"wrote {result.graffiti} graffiti and {result.clean} clean crops from {result.events} alerts "
               f"({result.cameras} cameras) to {result.manifest}")
    if result.skipped:
        typer.echo(f"skipped {result.skipped} alerts without a readable frame", err=True)
    if result.events == 0:
        which = f"no alerts decided since {since}" if since else "no decided alerts yet"
        typer.echo(f"note: nothing exported: {which} (confirm or reject alerts on the operator page)", err=True)
