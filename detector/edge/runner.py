"""The edge runner: cameras in threads, one shared model, events into the durable outbox.

The main thread only supervises: heartbeats, the model file (hot swap), accepted regions from the
review service, and signals. SIGTERM/SIGINT let every camera finish the frame in hand, then the
outbox is flushed and the process exits 0. With ``--fast`` and only file sources the runner stops
when every file is done.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from detector.edge.camera import CameraWorker, SaveFn, commission_request_path
from detector.edge.config import EdgeConfig
from detector.edge.model_holder import ModelHolder
from detector.edge.regions import AcceptedRegionsClient, RegionsError
from detector.errors import ConfigError
from detector.events import Event, Heartbeat

if TYPE_CHECKING:  # imported when set up: `graffiti edge check-config` does not load the delivery wing
    from detector.edge.delivery.outbox import Outbox
    from detector.edge.delivery.sender import Delivery
    from detector.edge.state import StateStore

log = logging.getLogger("detector.edge.runner")

# What signal.signal() returns and takes: a handler, SIG_DFL / SIG_IGN, or None (set outside Python).
SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
Snapshots = tuple[dict[str, Any] | None, dict[str, Any] | None]  # (full, light) state of one camera

LAST_GOOD_MODEL = Path("models/last-good.onnx")  # under device.data_dir: the last model that passed verification
STATE_DIR = Path("state")  # under device.data_dir: each camera's state (detector.edge.state)


def cpu_temp_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    """The CPU temperature where the board exposes it (Raspberry Pi: thermal_zone0), else None."""
    zones = sorted(root.glob("thermal_zone*"))
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
        except OSError:
            kind = ""
        if "cpu" in kind or "soc" in kind or "x86_pkg" in kind:
            zones = [zone]
            break
    for zone in zones[:1]:
        try:
            return round(int((zone / "temp").read_text().strip()) / 1000.0, 1)
        except (OSError, ValueError):
            return None
    return None


def disk_free_mb(path: Path) -> float | None:
    try:
        return round(shutil.disk_usage(path).free / (1024 * 1024), 1)
    except OSError:
        return None


class EdgeRunner:
    """Owns the workers, the model holder and delivery; ``run()`` blocks until stopped or done."""

    def __init__(self, config: EdgeConfig, realtime: bool = True, flush_timeout_s: float = 10.0) -> None:
        self.config = config
        self.realtime = realtime
        self.flush_timeout_s = flush_timeout_s
        self.stop_event = threading.Event()
        self.workers: dict[str, CameraWorker] = {}
        self.models: ModelHolder | None = None
        self._outbox: Outbox | None = None
        self._delivery: Delivery | None = None
        self.events_stored = 0
        self.heartbeats_sent = 0
        self._regions_ok = False
        self._regions: AcceptedRegionsClient | None = None
        self._lock = threading.Lock()

    @property
    def outbox(self) -> Outbox:
        """The durable outbox (after ``setup()``)."""
        if self._outbox is None:
            raise RuntimeError("EdgeRunner.setup() must run first")
        return self._outbox

    @property
    def delivery(self) -> Delivery:
        """The sender draining the outbox (after ``setup()``)."""
        if self._delivery is None:
            raise RuntimeError("EdgeRunner.setup() must run first")
        return self._delivery

    # ------------------------------------------------------------------ setup
    def _load_model(self) -> ModelHolder:
        from detector.preprocess import read_image

        m = self.config.model
        reference = None
        if m.reference_frame is not None:
            reference = read_image(str(m.reference_frame))
            if reference is None:
                raise ConfigError(f"model.reference_frame: {m.reference_frame} is missing or not a readable image")
        holder = ModelHolder(m.path, m.threads, reference, m.max_batch,
                             last_good=self.config.device.data_dir / LAST_GOOD_MODEL)
        meta = holder.current.meta
        log.info("model %s %s (%s, input %dx%d, threshold %.3f, clean %.3f, sha256 %s), %d thread(s)", meta.name,
                 meta.version, meta.arch, meta.input_size[1], meta.input_size[0], meta.threshold,
                 meta.clean_threshold, holder.current.sha256[:12], m.threads)
        return holder

    def setup(self) -> None:
        """Everything that can fail on a user mistake fails here, before any thread starts."""
        from detector.edge.delivery.sender import Delivery, open_outbox

        self.models = self._load_model()
        self._regions = self._regions_client()  # reads the token file: a mistake fails here
        workers = {
            name: CameraWorker(name, cam, self.config.device.name, self.models, self._store, self.realtime,
                               self.stop_event)
            for name, cam in self.config.cameras.items()
        }
        for name, worker in workers.items():  # `graffiti edge commission` drops this file to re-baseline
            worker.commission_request = commission_request_path(self.config.device.data_dir, name)
        outbox = self._outbox = open_outbox(self.config.delivery)
        try:
            self._delivery = Delivery(self.config.delivery, outbox, device=self.config.device.name)
            for worker in workers.values():
                worker.source.start()
        except BaseException:
            for worker in workers.values():
                worker.source.close()
            outbox.close()
            raise
        self.workers = workers
        self._restore_states()
        live = [n for n, w in workers.items() if w.source.live]
        if not self.realtime and live:
            log.warning("--fast has no effect on live camera(s) %s: they are sampled in real time", ", ".join(live))

    # ------------------------------------------------------------------ state across restarts
    def _restore_states(self) -> None:
        """Give each camera what it saved before the restart, less the events closed meanwhile."""
        from detector.edge.state import StateError, StateStore

        root = self.config.device.data_dir / STATE_DIR
        light_store, full_store = StateStore(root / "light"), StateStore(root / "full")
        saved: dict[str, Snapshots] = {}
        for name in self.workers:
            snaps: list[dict[str, Any] | None] = []
            for store in (full_store, light_store):
                try:
                    snaps.append(store.load(name))
                except StateError as exc:
                    store.discard(name, str(exc))
                    snaps.append(None)
            saved[name] = (snaps[0], snaps[1])
        closed = self._closed_meanwhile(saved)
        d = self.config.device
        for name, worker in self.workers.items():
            full, light = saved[name]
            worker.state_light_every_s, worker.state_full_every_s = d.state_every_s, d.state_full_every_s
            worker.state_saver = self._saver(name, light_store, full_store)
            if full is None and light is None:
                continue
            try:
                done = worker.restore_state(full, light, closed)
            except Exception:  # a state that does not fit must never stop the camera
                log.exception("camera %s: its saved state could not be restored; it starts afresh", name)
                continue
            log.info("camera %s: re-adopting its state from before the restart%s", name,
                     f" ({', '.join(done)})" if done else "")

    @staticmethod
    def _saver(name: str, light_store: StateStore, full_store: StateStore) -> SaveFn:
        def save(snapshot: dict[str, Any] | None, full: bool) -> None:
            if snapshot is None:  # nothing to resume
                light_store.clear(name)
                full_store.clear(name)
                return
            (full_store if full else light_store).save(name, snapshot)
        return save

    def _closed_meanwhile(self, saved: dict[str, Snapshots]) -> set[str]:
        """Ids of saved open events that the review service has closed (rejected, cleaned, accepted)."""
        from detector.edge.state import OpenEventsError, fetch_open_event_ids

        ids = {str(v) for pair in saved.values() for snap in pair if snap
               for v in (snap.get("event_ids") or {}).values()}
        url, token = self._review_url_token()
        if not ids or url is None:
            return set()
        try:
            still_open = fetch_open_event_ids(url, token, self.config.review.timeout_s)
        except OpenEventsError as exc:
            log.warning("could not ask the review service which events are still open (%s); keeping all %d", exc,
                        len(ids))
            return set()
        waiting = {i.id for i in self.outbox.listing("pending")}  # not delivered yet: the service cannot know
        closed = ids - still_open - waiting
        if closed:
            log.info("%d event(s) open before the restart were closed on the review service meanwhile", len(closed))
        return closed

    def _review_url_token(self) -> tuple[str | None, str]:
        r, http = self.config.review, self.config.delivery.http
        url = r.url or (http.url if http is not None else None)
        token = r.token if r.token is not None else (http.read_token() if http is not None else "")
        return url, token

    def _store(self, event: Event, files: dict[str, bytes]) -> None:
        """Write an event durably before anything tries to send it."""
        if not self.outbox.put_event(event, files):
            log.info("event %s %s camera=%s was stored before (the same decision, replayed); not sent again",
                     event.type, event.id, event.camera)
            return
        with self._lock:
            self.events_stored += 1
        log.info("event %s %s camera=%s score=%s", event.type, event.id, event.camera,
                 "-" if event.score is None else f"{event.score:.3f}")

    # ------------------------------------------------------------------ run
    def request_stop(self, *_: object) -> None:
        if not self.stop_event.is_set():
            log.info("stopping: finishing the current frame, then flushing the outbox")
        self.stop_event.set()

    def run(self) -> int:
        if self.models is None:
            self.setup()
        old_handlers = self._install_signals()
        regions = self._regions
        if regions is not None:  # before the first frame, so a restart never re-alerts an accepted region
            self._regions_ok = self._poll_regions(regions)
        try:
            self.delivery.start()
            for worker in self.workers.values():
                worker.start()
            log.info("edge runner started: device %s, %d camera(s), %s mode", self.config.device.name,
                     len(self.workers), "real-time" if self.realtime else "fast")
            self._supervise()
        finally:
            self.stop_event.set()
            for worker in self.workers.values():
                if worker.thread is not None:
                    worker.thread.join(timeout=60.0)
            for worker in self.workers.values():
                if worker.thread is None or not worker.thread.is_alive():
                    continue
                log.error("camera %s did not stop within 60 s", worker.name)
            self._heartbeat()
            flushed = self.delivery.flush(self.flush_timeout_s)
            self.delivery.stop(timeout_s=5.0)
            depth = self.outbox.depth()
            self.outbox.close()
            self._restore_signals(old_handlers)
            log.info("edge runner stopped: %d event(s) stored, %s", self.events_stored,
                     "everything delivered" if flushed else f"{depth} item(s) kept in the outbox for later")
        return 0

    def _supervise(self) -> None:
        c = self.config
        now = time.monotonic()
        next_hb = now + c.device.heartbeat_interval_s
        next_model = now + c.model.check_interval_s
        regions = self._regions
        next_regions = float("inf")
        if regions is not None:
            poll_s = c.review.accepted_regions_poll_s
            next_regions = now + (poll_s if self._regions_ok else min(poll_s, 60.0))
        while not self.stop_event.is_set():
            if all(w.thread is not None and not w.thread.is_alive() for w in self.workers.values()):
                log.info("every source has finished")
                return
            now = time.monotonic()
            if now >= next_hb:
                self._heartbeat()
                next_hb = now + c.device.heartbeat_interval_s
            if now >= next_model:
                try:
                    if self.models is not None:
                        self.models.check()
                except Exception:  # a broken model file must never stop detection
                    log.exception("checking the model file failed")
                next_model = now + c.model.check_interval_s
            if regions is not None and now >= next_regions:
                ok = self._poll_regions(regions)
                poll_s = c.review.accepted_regions_poll_s
                next_regions = time.monotonic() + (poll_s if ok else min(poll_s, 60.0))
            wake = min(next_hb, next_model, next_regions) - time.monotonic()
            self.stop_event.wait(min(max(wake, 0.01), 0.5))

    def _heartbeat(self) -> None:
        try:
            hb = Heartbeat(
                device=self.config.device.name,
                cameras={name: w.stats() for name, w in self.workers.items()},
                outbox_depth=self.outbox.depth(),
                disk_free_mb=disk_free_mb(self.config.delivery.outbox_path.parent),
                cpu_temp_c=cpu_temp_c(),
            )
            self.outbox.put_heartbeat(hb)
            self.heartbeats_sent += 1
            log.debug("heartbeat: %s", hb.to_dict())
        except Exception:  # a heartbeat is never worth a crash
            log.exception("heartbeat failed")

    # ------------------------------------------------------------------ accepted regions
    def _regions_client(self) -> AcceptedRegionsClient | None:
        r, http = self.config.review, self.config.delivery.http
        url = r.url or (http.url if http is not None else None)
        if url is None:
            return None
        token = r.token if r.token is not None else (http.read_token() if http is not None else "")
        return AcceptedRegionsClient(url, token, r.timeout_s)

    def _poll_regions(self, client: AcceptedRegionsClient) -> bool:
        ok = True
        for name, worker in self.workers.items():
            try:
                regions = client.fetch(name)
            except RegionsError as exc:
                log.warning("accepted regions for camera %s not updated (will retry): %s", name, exc)
                ok = False
                continue
            worker.set_remote_accepted([r.polygon for r in regions])
            log.debug("camera %s: %d accepted region(s) from the review service", name, len(regions))
            try:
                rejected = client.fetch_rejected(name)
            except RegionsError as exc:
                log.warning("rejected regions for camera %s not updated (will retry): %s", name, exc)
                ok = False
                continue
            worker.set_remote_rejected([(r.event_id, r.polygon) for r in rejected])
        return ok

    # ------------------------------------------------------------------ signals
    def _install_signals(self) -> dict[int, SignalHandler]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old: dict[int, SignalHandler] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, self._on_signal)
        return old

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.request_stop()

    @staticmethod
    def _restore_signals(old: dict[int, SignalHandler]) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_edge(config: EdgeConfig, realtime: bool = True) -> int:
    """Set up and run until a signal arrives or (``--fast``, files only) every source is done."""
    runner = EdgeRunner(config, realtime=realtime)
    runner.setup()
    return runner.run()
