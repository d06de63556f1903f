"""A store of computed results that every app session shares: bounded, thread-safe, one
computation per key even when several sessions ask at once, and prefetching in idle time.

The app keeps two: loaded models, and analyses (one model on one image). Streamlit's own
st.cache_data copies a value in and out (pickle) on every hit and cannot say "that one is
being computed right now, wait for it"; here a value is shared as it is, so callers treat it
as read-only, and a computation in flight is joined rather than started twice.

Prefetch: after the page is drawn, the app asks for the slider's neighbours of the model on
screen. One background thread computes them, newest request first, and only while no
foreground computation is running, so a visitor's own request never queues behind a guess.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

APP_MODELS_KEPT = 64  # loaded models the app keeps (16 ship today: all of them stay loaded)
APP_ANALYSES_KEPT = 24  # one model on one image: ~15 MB for a 1-megapixel photo
APP_TTL_S = 3600  # an analysis nobody has looked at for an hour is dropped
APP_PARALLEL = 1  # model runs at once, all sessions together (see Results)
PREFETCH_QUEUE = 4  # guesses kept waiting; older ones are dropped (the visitor has moved on)
IDLE_POLL_S = 0.05  # how often the prefetch thread looks whether the foreground is idle

log = logging.getLogger(__name__)


class Results:
    """key → value, at most `max_entries` (least recently used dropped first), each dropped
    `ttl_s` seconds after its last use. Values are shared, never copied: do not modify them."""

    def __init__(self, max_entries: int, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic,
                 parallel: int | None = None):
        """parallel: how many computations may run at once (None: no limit). Two CPU cores do
        one model run fastest alone: side by side, each takes more than twice as long and the
        memory of both is held at once."""
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries, self.ttl_s, self._clock = max_entries, ttl_s, clock
        self._slots = threading.BoundedSemaphore(parallel) if parallel else contextlib.nullcontext()
        self._lock = threading.Condition()
        self._done: OrderedDict[str, tuple[float, Any]] = OrderedDict()  # key → (last used, value)
        self._running: dict[str, Future] = {}
        self._foreground = 0  # computations callers are waiting for right now
        self._queue: deque[tuple[str, Callable[[], Any]]] = deque()
        self._worker: threading.Thread | None = None
        self._closing = False

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._done)

    def ready(self, key: str) -> bool:
        """Whether `get(key, …)` would answer at once."""
        with self._lock:
            self._expire()
            return key in self._done

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        """The value for `key`: stored, or joined while another thread computes it, or computed
        here. An exception reaches every caller waiting for that key and is not stored."""
        with self._lock:
            self._expire()
            if key in self._done:
                self._done.move_to_end(key)
                value = self._done[key][1]
                self._done[key] = (self._clock(), value)
                return value
            future = self._running.get(key)
            if future is None:
                future = self._running[key] = Future()
                self._foreground += 1
                mine = True
            else:
                mine = False
        if not mine:
            return future.result()
        try:
            return self._compute(key, compute, future)
        finally:
            with self._lock:
                self._foreground -= 1
                self._lock.notify_all()

    @contextlib.contextmanager
    def foreground(self):
        """Hold prefetching while the block runs (the app wraps each script run in it: a
        visitor's page is drawn before any guess starts)."""
        with self._lock:
            self._foreground += 1
        try:
            yield
        finally:
            with self._lock:
                self._foreground -= 1
                self._lock.notify_all()

    def prefetch(self, key: str, compute: Callable[[], Any]) -> None:
        """Compute `key` in the background when the foreground is idle, unless it is stored,
        being computed or already waiting."""
        with self._lock:
            self._expire()
            if key in self._done or key in self._running or any(k == key for k, _ in self._queue):
                return
            self._queue.appendleft((key, compute))
            while len(self._queue) > PREFETCH_QUEUE:
                self._queue.pop()
            if self._worker is None:
                self._worker = threading.Thread(target=self._prefetch_loop, name="results-prefetch", daemon=True)
                self._worker.start()
                atexit.register(self._close)
            self._lock.notify_all()

    def wait_prefetched(self, timeout: float) -> bool:
        """Block until no guess is waiting or running (tests and benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, IDLE_POLL_S))
        return True

    # -----------------------------------------------------------------------------------

    def _compute(self, key: str, compute: Callable[[], Any], future: Future) -> Any:
        try:
            with self._slots:
                value = compute()
        except BaseException as e:
            with self._lock:
                del self._running[key]
                self._lock.notify_all()
            future.set_exception(e)
            raise
        with self._lock:
            del self._running[key]
            self._done[key] = (self._clock(), value)
            self._done.move_to_end(key)
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)
            self._lock.notify_all()
        future.set_result(value)
        return value

    def _expire(self) -> None:
        """Drop entries unused for ttl_s (called with the lock held)."""
        if self.ttl_s is None:
            return
        oldest_kept = self._clock() - self.ttl_s
        for key in [k for k, (used, _) in self._done.items() if used < oldest_kept]:
            del self._done[key]

    def _close(self) -> None:
        """At interpreter exit: drop the guesses and let the one running finish, so no thread
        is inside torch when the interpreter goes (C++ would abort the process)."""
        with self._lock:
            self._closing = True
            self._queue.clear()
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=30)

    def _prefetch_loop(self) -> None:
        while True:
            with self._lock:
                while (not self._queue or self._foreground) and not self._closing:
                    self._lock.wait(IDLE_POLL_S)
                if self._closing:
                    return
                key, compute = self._queue.popleft()
                if key in self._done or key in self._running:
                    continue
                future = self._running[key] = Future()
            try:
                self._compute(key, compute, future)
            except Exception:  # noqa: BLE001 (a guess that fails is the foreground's to report, if ever asked)
                log.info("prefetch of %s failed", key, exc_info=True)


@functools.cache
def app_stores() -> tuple[Results, Results]:
    """(loaded models, analyses): the app's two stores, one of each per process, shared by every
    session (and reachable by `bench --app`, which runs the app in its own process)."""
    return Results(APP_MODELS_KEPT), Results(APP_ANALYSES_KEPT, ttl_s=APP_TTL_S, parallel=APP_PARALLEL)
