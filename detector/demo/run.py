"""The demo, step by step: folder → stream → review service → edge config → edge run → summary.

Every step calls the real subsystem: the stream is ``detector.data.sim``'s video, the review service
is ``graffiti review serve`` in a child process over SQLite, the operator and device come from the
service's own store functions, and the edge runner reads its config file and delivers over HTTP
through its durable outbox. The demo only watches (a tee on each camera's event callback) and
compares what arrived with the stream's ground truth.

Folder layout (``--data``, default ./demo-data): ``stream/`` (the rendered video and its timeline,
reused while the options match), ``review/`` (database, evidence) and ``edge/`` (edge.toml, token,
outbox); ``review/`` and ``edge/`` start empty on every run, so each summary is about this run only.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.demo.polygons import osd_ignore, wall_polygons
from detector.demo.render import DemoStream, prepare_stream
from detector.demo.report import event_line, fmt_t, summary_lines
from detector.demo.service import Accounts, DemoError, ReviewProcess, pick_port, provision
from detector.demo.truth import TimedEvent, TruthReport, compare

MARKER = ".graffiti-demo"
DEVICE = "demo-pi"
CAMERA = "tunnel-1"


@dataclass
class DemoOptions:
    data: Path = Path("demo-data")
    minutes: float = 12.0  # room for the wall model to see the paint and, after the crew, the clean wall
    seed: int = 4
    port: int | None = None
    model: Path | None = None
    fps: float = 1.0  # frames per second of the rendered video (the edge samples it every interval_s)
    interval_s: float = 5.0
    serve: bool = True
    host: str = "127.0.0.1"

    def validate(self) -> None:
        from detector.errors import ConfigError

        if not 5.0 <= self.minutes <= 60.0:
            raise ConfigError(f"--minutes: expected 5 to 60 (the stream needs room for paint, then cleaning), "
                              f"found {self.minutes:g}")
        if self.seed < 0:
            raise ConfigError(f"--seed: expected a non-negative integer, found {self.seed}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ConfigError(f"--port: expected 1-65535, found {self.port}")
        if not 0.1 <= self.fps <= 30:
            raise ConfigError(f"--fps: expected 0.1 to 30, found {self.fps:g}")
        if not 1.0 <= self.interval_s <= 60.0:
            raise ConfigError(f"interval_s: expected 1 to 60 s, found {self.interval_s:g}")


@dataclass
class SeenEvent:
    """An event the edge runner stored (and then delivered), with its evidence files."""

    event: Any  # detector.events.Event
    files: dict[str, bytes]
    timed: TimedEvent


@dataclass
class DemoResult:
    report: TruthReport
    events: list[SeenEvent] = field(default_factory=list)
    delivered: int = 0  # events found in the review service afterwards
    edge_s: float = 0.0
    samples: int = 0

    def failures(self) -> list[str]:
        """What makes this a failed demo: no detection, a false alarm, a detection closed too early."""
        out = []
        missed = self.report.missed()
        if not self.report.incidents:
            out.append("the stream has no paint incident")
        for r in missed:
            out.append(f"paint {r.incident_id} ({r.kind}) was not detected in time")
        for fa in self.report.false_alarms:
            out.append(f"false alarm at {fmt_t(fa.event.t_s)} ({fa.cause})")
        for ev in self.report.early_cleans:
            out.append(f"'cleaned' reported at {fmt_t(ev.t_s)} while the paint was still there")
        if self.delivered < len(self.events):
            out.append(f"only {self.delivered} of {len(self.events)} events reached the review service")
        return out


def resolve_model(model: Path | None) -> Path:
    """--model, else the bundled model (``detector.bundled``: ./models/, the repository's, the installed one)."""
    from detector.errors import ConfigError

    if model is not None:
        if not model.is_file():
            raise ConfigError(f"--model: {model} not found")
        return model.resolve()
    from detector.bundled import find_bundled_model

    return find_bundled_model(what="--model")


def demo_clean_s(duration_s: float) -> float:
    """How long a cleaned wall must stay clean before graffiti_cleaned: 300 s on a real camera; a short
    demo stream has only about a fifth of its length left after the crew, and the median window
    itself takes ~30 s to see the clean wall, so it is scaled down (30 s for streams up to 10 min)."""
    return float(min(300.0, max(30.0, round(0.05 * duration_s))))


def prepare_folder(data: Path) -> None:
    """Create ``data`` (or reuse an earlier demo's); refuse a non-empty folder that is not a demo's."""
    data.mkdir(parents=True, exist_ok=True)
    if not (data / MARKER).exists() and any(data.iterdir()):
        raise DemoError(f"--data {data}: folder exists and is not a demo folder; choose an empty or new folder")
    (data / MARKER).write_text("graffiti demo data: safe to delete\n")
    for sub in ("review", "edge"):
        shutil.rmtree(data / sub, ignore_errors=True)


def edge_toml(model: Path, video: Path, url: str, interval_s: float, clean_s: float, threads: int,
              watch: list[list[list[float]]], ignore: list[list[float]]) -> str:
    """The demo's edge config: one camera on the rendered video, HTTP delivery to the review service."""

    def q(p: Path | str) -> str:
        return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"""# Written by `graffiti demo`. Run it again yourself with:
#   graffiti edge run --config {q(Path('edge.toml'))} --fast
[device]
name = "{DEVICE}"
data_dir = "."
heartbeat_interval_s = 10

[model]
path = {q(model)}
threads = {threads}

[defaults]
interval_s = {interval_s:g}

[defaults.decision]
confirm_s = 30
clean_s = {clean_s:g}          # 180 on a real camera; shortened to fit a short demo stream

[defaults.wall]              # the wall model's memory, shortened to fit a short demo stream:
slot_s = 5                   # 30 on a real camera (a change enters the wall after 2.5 min)
slots = 5                    # 9 on a real camera
commission_s = 30            # 300 on a real camera

[cameras.{CAMERA}]
source = {q(video)}
watch = {[[[round(x), round(y)] for x, y in poly] for poly in watch]}   # the two side walls
ignore = [{[[round(x), round(y)] for x, y in ignore]}]   # the camera's burned-in name and clock

[delivery]
retry_initial_s = 0.2
retry_max_s = 2

[delivery.http]
url = "{url}"
token_file = "device.token"
timeout_s = 15
"""


class Demo:
    """One demo run; the steps are methods so the end-to-end test can look in between."""

    def __init__(self, options: DemoOptions, console: Any = None) -> None:
        from rich.console import Console

        options.validate()
        self.o = options
        self.console = console or Console(highlight=False)
        self.data = options.data.resolve()
        self.model = resolve_model(options.model)
        self.stream: DemoStream | None = None
        self.service: ReviewProcess | None = None
        self.accounts: Accounts | None = None
        self.config_path = self.data / "edge" / "edge.toml"
        self._events: list[SeenEvent] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ steps
    def render(self) -> DemoStream:
        prepare_folder(self.data)
        self.stream = prepare_stream(self.data / "stream", self.o.seed, self.o.minutes, self.o.fps, self.console)
        how = "reused" if self.stream.reused else f"rendered in {self.stream.render_s:.0f} s"
        self.console.print(f"stream: {self.stream.video} ({how}); ground truth: {self.stream.timeline_json.name}")
        return self.stream

    def start_service(self) -> ReviewProcess:
        port = pick_port(self.o.host, self.o.port)
        review = self.data / "review"
        self.accounts = provision(review, DEVICE, [CAMERA])
        self.service = ReviewProcess(review, port, self.o.host, self.data / "review-service.log")
        self.service.start()
        self.console.print(f"review service: {self.service.url}/ (SQLite in {review}; log {self.service.log_path.name})")
        return self.service

    def write_config(self) -> Path:
        if self.stream is None or self.service is None or self.accounts is None:
            raise DemoError("internal: render() and start_service() must run before write_config()")
        edge = self.config_path.parent
        edge.mkdir(parents=True, exist_ok=True)
        token = edge / "device.token"
        token.write_text(self.accounts.token + "\n")
        os.chmod(token, 0o600)
        threads = max(1, min(4, os.cpu_count() or 1))
        clean_s = demo_clean_s(self.o.minutes * 60.0)
        self.config_path.write_text(edge_toml(self.model, self.stream.video, self.service.url, self.o.interval_s,
                                              clean_s, threads, wall_polygons(self.stream.stream),
                                              osd_ignore(self.stream.stream.size)))
        return self.config_path

    def run_edge(self) -> DemoResult:
        """Run the edge runner (fast mode) over the video, printing events as they are stored."""
        from rich.progress import BarColumn, Progress, TextColumn

        from detector.edge.config import load_edge_config
        from detector.edge.runner import EdgeRunner

        if self.stream is None:
            raise DemoError("internal: render() must run before run_edge()")
        cfg = load_edge_config(self.config_path)
        cam = cfg.cameras[CAMERA]
        d = cam.decision
        w = cam.wall
        wall = (f"wall model: a change that stays {(w.slots // 2 + 1) * w.slot_s:g} s enters the wall, baseline "
                f"over the first {w.commission_s:g} s; " if w.enabled else "")
        self.console.print(f"edge runner: model {self.model.name}, a sample every {cam.interval_s:g} s of stream time; "
                           f"{wall}a wall tile scoring over its baseline and changed, median of {d.window} samples "
                           f"≥ threshold for {d.confirm_s:g} s → graffiti_detected; back to the baseline or below "
                           f"the clean threshold for {d.clean_s:g} s → graffiti_cleaned")
        self.console.print("events as the edge runner reports them (stream time, type, camera, score, box):")
        runner = EdgeRunner(cfg, realtime=False)
        runner.setup()
        duration = self.stream.stream.duration_s
        total = int(duration // cam.interval_s) + 1
        with Progress(TextColumn("edge: stream time"), BarColumn(), TextColumn("{task.fields[t]}"),
                      console=self.console, transient=True) as bar:
            task = bar.add_task("edge", total=total, t="0:00")
            for worker in runner.workers.values():
                worker.emit_fn = self._tee(worker.emit_fn, bar)
            stop = threading.Event()

            def follow() -> None:
                while not stop.wait(0.3):
                    seen = sum(w.frames_seen for w in runner.workers.values())
                    bar.update(task, completed=seen, t=fmt_t(min(seen * cam.interval_s, duration)))

            watcher = threading.Thread(target=follow, daemon=True)
            watcher.start()
            t0 = time.perf_counter()
            try:
                runner.run()
            finally:
                stop.set()
                watcher.join(timeout=2)
        edge_s = time.perf_counter() - t0
        samples = sum(w.frames_seen for w in runner.workers.values())
        events = list(self._events)
        report = compare(self.stream.stream.timeline, [e.timed for e in events], camera=CAMERA)
        result = DemoResult(report, events, self.delivered_count(), edge_s, samples)
        return result

    def delivered_count(self) -> int:
        """How many of the stored events the review service has (asked over its API, as the device)."""
        import httpx

        if self.service is None or self.accounts is None:
            return 0
        r = httpx.get(f"{self.service.url}/api/v1/events", params={"camera": CAMERA, "limit": 1000},
                      headers={"Authorization": f"Bearer {self.accounts.token}"}, timeout=10)
        r.raise_for_status()
        have = {e["id"] for e in r.json()}
        return sum(1 for e in self._events if e.event.id in have)

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()

    # ------------------------------------------------------------------ events
    def _tee(self, emit: Any, bar: Any) -> Any:

        def tee(event: Any, files: dict[str, bytes]) -> None:
            emit(event, files)  # the runner's own path: durable outbox first, then delivery
            timed = TimedEvent.from_dict(event.to_dict())
            with self._lock:
                self._events.append(SeenEvent(event, files, timed))
            bar.console.print(event_line(timed))

        return tee


def run_demo(options: DemoOptions, console: Any = None) -> DemoResult:
    """The whole demo; with ``options.serve`` it keeps the review page up until Ctrl-C.

    Raises DemoError (one line) when the demo shows a missed detection or a false alarm.
    """
    import signal


    demo = Demo(options, console)
    out = demo.console
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (e.g. `kill`, a service manager) ends the demo like Ctrl-C: the review service is stopped.
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.render()
        demo.start_service()
        demo.write_config()
        result = demo.run_edge()
        timeline = demo.stream.stream.timeline if demo.stream else None
        for line in summary_lines(result.report, timeline):
            out.print(line)
        out.print(f"  {result.samples} samples scored in {result.edge_s:.1f} s "
                  f"({result.samples / max(result.edge_s, 1e-9):.1f} samples/s); "
                  f"{result.delivered}/{len(result.events)} events in the review service")
        failures = result.failures()
        if failures:
            raise DemoError(f"demo failed: {'; '.join(failures)} (details in {demo.data})")
        if not options.serve or demo.service is None or demo.accounts is None:
            return result
        acc = demo.accounts
        out.print("")
        out.print(f"[bold]Review page: {demo.service.url}/[/]  sign in as [bold]{acc.user}[/] / password "
                  f"[bold]{acc.password}[/]   (Ctrl-C to stop)")
        try:
            status = demo.service.wait()
        except KeyboardInterrupt:
            out.print("stopping the review service")
            return result
        raise DemoError(f"review service stopped unexpectedly (status {status}); see {demo.service.log_path}")
    finally:
        demo.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
