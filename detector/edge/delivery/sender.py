"""The background sender: drains the outbox into every configured sink, retrying for as long as it takes.

One thread per sink, so a broker that hangs never delays the review service and vice versa. A
failing sink backs off exponentially with full jitter (``retry_initial_s`` doubling up to
``retry_max_s``); the item stays pending in the outbox, so hours of outage or a ``kill -9`` lose
nothing. An item is marked delivered only after the sink acknowledged it (HTTP 2xx, MQTT PUBACK); a
crash between the acknowledgement and the mark causes one resend, which the receivers deduplicate by
event id.

Typical use (the edge runner)::

    outbox = open_outbox(cfg.delivery.resolved(data_dir))
    delivery = Delivery(cfg.delivery, outbox, device="tunnel-7")
    delivery.start()
    outbox.put_event(event, {"frame.jpg": jpeg_bytes})   # wakes the sender
    ...
    delivery.flush(timeout_s=10); delivery.stop(timeout_s=5)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence

from detector.edge.delivery.config import DeliveryConfig
from detector.edge.delivery.outbox import Outbox, OutboxItem
from detector.edge.delivery.sinks import HttpSink, LocalSink, PermanentSinkError, Sink, TransientSinkError

log = logging.getLogger("detector.edge.delivery")  # the name operators filter on (kept when the module moved)

POLL_S = 2.0  # how often an idle worker looks for items written by another process
PRUNE_EVERY_S = 60.0
STILL_FAILING_LOG_EVERY_S = 600.0


def open_outbox(config: DeliveryConfig, repair: bool = True) -> Outbox:
    """Open the outbox that ``config`` describes (paths must already be resolved).

    ``repair=False`` (the ``graffiti edge outbox`` commands): a damaged outbox is an error, never moved.
    """
    heartbeat_sinks = [
        name for name in config.sink_names()
        if getattr(getattr(config, name), "heartbeats", True)
    ]
    return Outbox(
        config.outbox_path, config.evidence_dir, config.max_disk_mb,
        sinks=config.sink_names(), heartbeat_sinks=heartbeat_sinks,
        keep_delivered_s=config.keep_delivered_days * 86400.0, repair=repair,
    )


def build_sinks(config: DeliveryConfig, device: str) -> list[Sink]:
    """Create the configured sinks (reads the token file; imports paho only when MQTT is configured)."""
    sinks: list[Sink] = []
    if config.http is not None:
        sinks.append(HttpSink(config.http))
    if config.mqtt is not None:
        from detector.edge.delivery.mqtt import MqttSink

        sinks.append(MqttSink(config.mqtt, device))
    if config.local is not None:
        sinks.append(LocalSink(config.local))
    return sinks


def backoff_s(failures: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [initial/10, min(max, initial·2^(failures-1))]."""
    cap = min(max_s, initial_s * (2.0 ** min(max(failures - 1, 0), 40)))
    return max(initial_s / 10.0, rng.uniform(0.0, cap))


class _Worker:
    """Delivery state of one sink: consecutive failures and when to try again."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.failures = 0
        self.resume_at = 0.0
        self.failing_since: float | None = None
        self.last_warned = 0.0
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None


class Delivery:
    """Background sender over an ``Outbox``: ``start()``, ``flush(timeout_s)``, ``stop(timeout_s)``."""

    def __init__(
        self,
        config: DeliveryConfig,
        outbox: Outbox,
        device: str,
        sinks: Sequence[Sink] | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.device = device
        built = list(sinks) if sinks is not None else build_sinks(config, device)
        self._workers = [_Worker(s) for s in built]
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._prune_lock = threading.Lock()
        self._last_prune = 0.0
        self._started = False
        if not self._workers:
            log.warning("delivery: no sink configured (delivery.http / .mqtt / .local); events stay in %s", outbox.path)
        outbox.add_listener(self.wake)

    @property
    def sink_names(self) -> list[str]:
        return [w.sink.name for w in self._workers]

    def start(self) -> None:
        """Start one daemon thread per sink."""
        if self._started:
            return
        self._started = True
        self._stop.clear()
        for w in self._workers:
            w.thread = threading.Thread(target=self._run, args=(w,), name=f"delivery-{w.sink.name}", daemon=True)
            w.thread.start()

    def wake(self) -> None:
        """New item in the outbox: let idle workers look now (backoff of failing sinks is kept)."""
        for w in self._workers:
            w.wake.set()

    def flush(self, timeout_s: float) -> bool:
        """Try to deliver everything pending now (one immediate try per failing sink); True if all went."""
        deadline = time.monotonic() + timeout_s
        for w in self._workers:
            w.resume_at = 0.0
        self.outbox.retry_now()
        self.wake()
        while True:
            if not self._started:
                for w in self._workers:
                    self._pass(w)
            if self.outbox.depth() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            if not self._started and all(w.resume_at > time.time() for w in self._workers if self._has_due(w)):
                return False  # every sink with work is backing off: nothing more will happen inline
            time.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop the workers (a send in progress finishes or times out); True if all stopped in time."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout_s
        ok = True
        for w in self._workers:
            if w.thread is not None:
                w.thread.join(max(0.0, deadline - time.monotonic()))
                ok = ok and not w.thread.is_alive()
            try:
                w.sink.close()
            except Exception as exc:  # closing must never block shutdown
                log.warning("delivery: closing sink %s failed: %s", w.sink.name, exc)
        self._started = False
        return ok

    # ------------------------------------------------------------------ worker loop
    def _has_due(self, w: _Worker) -> bool:
        return bool(self.outbox.due(w.sink.name, limit=1))

    def _run(self, w: _Worker) -> None:
        while not self._stop.is_set():
            self._maybe_prune()
            now = time.time()
            if now < w.resume_at:
                self._sleep(w, w.resume_at - now)
                continue
            try:
                progressed = self._pass(w)
            except Exception:  # a bug in a sink or the DB must not silently kill the thread
                log.exception("delivery: unexpected error in sink %s; retrying later", w.sink.name)
                w.resume_at = time.time() + self.config.retry_max_s
                continue
            if not progressed:
                nxt = self.outbox.next_due_at(w.sink.name)
                wait = POLL_S if nxt is None else min(POLL_S, max(0.0, nxt - time.time()))
                self._sleep(w, max(wait, w.resume_at - time.time(), 0.01))

    def _sleep(self, w: _Worker, seconds: float) -> None:
        w.wake.wait(seconds)
        w.wake.clear()

    def _pass(self, w: _Worker) -> bool:
        """Send the items due for this sink until one fails; True if anything was delivered or parked."""
        if time.time() < w.resume_at:
            return False
        items = self.outbox.due(w.sink.name)
        progressed = False
        for listed in items:
            if self._stop.is_set():
                break
            # Re-read just before sending: the item may have changed (pictures dropped by the disk cap)
            # or gone since it was listed; while held, the disk cap leaves its pictures alone.
            item = self.outbox.claim(listed.seq, w.sink.name)
            if item is None:
                continue
            if not self._send_one(w, item):
                break
            progressed = True
        return progressed

    def _send_one(self, w: _Worker, item: OutboxItem) -> bool:
        name = w.sink.name
        try:
            if item.kind == "heartbeat":
                w.sink.send_heartbeat(item.payload)
            else:
                w.sink.send_event(item.payload, item.files)
        except PermanentSinkError as exc:
            parks = self.outbox.parks(item.seq, name)
            wait = min(self.config.parked_retry_max_s, self.config.parked_retry_s * 2.0 ** min(parks, 30))
            self.outbox.mark_parked(item.seq, name, str(exc), time.time() + wait)
            log.error("delivery: sink %s REJECTED %s %s, parked (tried again automatically in %.0f s; "
                      "`graffiti edge outbox retry %s` now, or `... drop`): %s",
                      name, item.kind, item.id, wait, item.id[:8], exc)
            return True
        except TransientSinkError as exc:
            self._failed(w, item, str(exc), exc.retry_after_s, exc.config_problem)
            return False
        except Exception as exc:  # unexpected (e.g. unreadable evidence): retry like a transient failure
            log.exception("delivery: sink %s raised unexpectedly for %s %s", name, item.kind, item.id)
            self._failed(w, item, f"{type(exc).__name__}: {exc}", None, False)
            return False
        self.outbox.mark_delivered(item.seq, name)
        if w.failing_since is not None:
            log.info("delivery: sink %s is delivering again after %.0f s of failures", name,
                     time.time() - w.failing_since)
        w.failures, w.failing_since, w.resume_at = 0, None, 0.0
        log.debug("delivery: %s %s delivered to %s", item.kind, item.id, name)
        return True

    def _failed(self, w: _Worker, item: OutboxItem, error: str, retry_after_s: float | None, config_problem: bool) -> None:
        now = time.time()
        w.failures += 1
        delay = backoff_s(w.failures, self.config.retry_initial_s, self.config.retry_max_s, self._rng)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.config.retry_max_s))
        w.resume_at = now + delay
        # The item's own backoff grows with its attempts, so an item that keeps failing while others
        # succeed (which resets the sink's count) is not retried every few seconds forever.
        item_delay = max(delay, backoff_s(item.attempts + 1, self.config.retry_initial_s, self.config.retry_max_s, self._rng))
        self.outbox.mark_retry(item.seq, w.sink.name, now + item_delay, error)
        if config_problem:
            log.error("delivery: sink %s: %s (retry in %.1f s)", w.sink.name, error, delay)
        elif w.failing_since is None:
            w.failing_since, w.last_warned = now, now
            log.warning("delivery: sink %s failed: %s (retry in %.1f s)", w.sink.name, error, delay)
        elif now - w.last_warned >= STILL_FAILING_LOG_EVERY_S:
            w.last_warned = now
            log.warning("delivery: sink %s still failing after %.0f s, %d items waiting: %s",
                        w.sink.name, now - w.failing_since, self.outbox.depth(), error)
        else:
            log.debug("delivery: sink %s failed again (%d): %s", w.sink.name, w.failures, error)

    def _maybe_prune(self) -> None:
        every_s = min(PRUNE_EVERY_S, self.config.parked_retry_s)  # parked items come back on time
        if time.time() - self._last_prune < every_s or not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._last_prune = time.time()
            removed = self.outbox.prune()
            if removed:
                log.debug("delivery: pruned %d finished outbox items", removed)
            back = self.outbox.requeue_parked(due_only=True)
            if back:
                log.info("delivery: %d parked item(s) are due for another try", back)
        finally:
            self._prune_lock.release()
