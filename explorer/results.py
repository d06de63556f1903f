"""Stores of computed results that every app session shares, and the lane where model runs take turns.

`Results`: key → value, bounded by a count and by bytes (least recently used dropped first),
each value dropped a while after its last use, one computation per key even when several
sessions ask at once (a computation in flight is joined, not started twice). Values are shared
as they are (Streamlit's st.cache_data would pickle a copy in and out on every hit), so callers
treat them as read-only.

`Lane`: where model runs happen, one at a time (two CPU cores do one model run fastest alone,
and hold the memory of only one). Its worker takes, in this order:

1. runs a visitor waits for, in turns across sessions: each session's runs wait in its own
   queue, and the sessions take one run each in turn (round robin), so one visitor asking for
   ten pictures does not hold up another. A waiting caller is told its place (`on_wait`: how
   many runs go before its own); a caller that stops waiting (its visitor moved on) takes its
   run out of the queue unless someone else waits for it too;
2. guesses (`Results.prefetch`: what the next move most likely shows), newest first, only while
   no script run is busy (`Lane.foreground`);
3. background work (`Background`: the gallery × every model at server start), in order, only
   then too.

A run in progress is never interrupted: a visitor's own run waits at most for the one in progress.
The worker may also run at a lower OS priority (`nice`), so that script runs, which are short,
take the cores first while a model runs.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from typing import Any

PREFETCH_QUEUE = 4  # guesses kept waiting; older ones are dropped (the visitor has moved on)
WAIT_TICK_S = 0.25  # how often a waiting caller hears its place (and may stop waiting)
IDLE_POLL_S = 0.5  # the lane's worker also looks this often, though every change wakes it

HERE, VISITOR, GUESS, BACKGROUND = "here", "visitor", "guess", "background"  # where a run comes from

log = logging.getLogger(__name__)


class LaneClosed(RuntimeError):
    """The process is exiting: the lane takes no more runs."""


def nbytes(value: Any, _seen: set[int] | None = None) -> int:
    """The bytes `value` holds in arrays, bytes and strings: anything with an integer `nbytes`
    (numpy arrays, torch tensors, or a class that says what it holds), through dataclasses,
    tuples, lists, dicts and plain objects; each object counted once. Numbers and other small
    things count 0: the bounds are about pictures and latents, not bookkeeping."""
    seen = set() if _seen is None else _seen
    if id(value) in seen or value is None or isinstance(value, (int, float, bool, type)) or callable(value):
        return 0
    seen.add(id(value))
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if isinstance(value, dict):
        return sum(nbytes(k, seen) + nbytes(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return sum(nbytes(v, seen) for v in value)
    if dataclasses.is_dataclass(value):
        return sum(nbytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    return nbytes(vars(value), seen) if hasattr(value, "__dict__") else 0


@dataclasses.dataclass(eq=False)
class _Job:
    store: Results
    key: str
    compute: Callable[[], Any]
    kind: str  # HERE (computed by the caller) or, on the lane, VISITOR, GUESS, BACKGROUND
    session: Hashable = None  # whose turn it waits in (visitor runs)
    waiters: int = 0
    started: bool = False
    future: Future = dataclasses.field(default_factory=Future)


class Lane:
    """One worker thread that runs the model computations of every store on this lane (see the
    module's docstring for the order), started by the first run asked for."""

    def __init__(self, guesses_kept: int = PREFETCH_QUEUE, name: str = "results-lane", nice: int = 0):
        """nice: added to the worker thread's nice value (Linux, where a thread has its own;
        torch's worker threads, started from it, inherit it)."""
        self.lock = threading.Condition()  # shared by the stores on this lane: one lock, no ordering between two
        self.name, self.nice = name, nice
        self._turns: OrderedDict[Hashable, deque[_Job]] = OrderedDict()  # session → its runs; the first goes next
        self._guesses: deque[_Job] = deque()  # newest first
        self._background: deque[_Job] = deque()
        self._guesses_kept = guesses_kept
        self._running: _Job | None = None
        self._busy = 0  # script runs in progress
        self._worker: threading.Thread | None = None
        self._closing = False

    @contextlib.contextmanager
    def foreground(self):
        """Hold guesses and background work while the block runs (the app wraps each script run
        in it: a visitor's page is drawn before any guess starts). Visitors' runs go on."""
        with self.lock:
            self._busy += 1
        try:
            yield
        finally:
            with self.lock:
                self._busy -= 1
                self.lock.notify_all()

    def waiting(self) -> list[str]:
        """The keys of the visitors' runs in the order they will run (the one in progress not included)."""
        with self.lock:
            return [job.key for job in self._schedule()]

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or running, background work included (tests and
        benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._turns or self._guesses or self._background or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, IDLE_POLL_S))
        return True

    def close(self, timeout: float = 30) -> None:
        """Drop every waiting run (its callers get LaneClosed) and let the one in progress
        finish, so no thread is inside torch when the interpreter goes (C++ would abort the
        process). Called at interpreter exit."""
        with self.lock:
            self._closing = True
            dropped = [job for queue in (*self._turns.values(), self._guesses, self._background) for job in queue]
            self._turns.clear(), self._guesses.clear(), self._background.clear()
            for job in dropped:
                job.store._forget(job)
            self.lock.notify_all()
        for job in dropped:
            job.future.set_exception(LaneClosed("the app is shutting down"))
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout)

    # ------------------------------------------------------------------ with self.lock held

    def _place(self, job: _Job) -> int:
        """How many runs go before `job`: the one in progress, then the runs ahead in the turns
        (a guess or background run: every visitor's run, then those queued before it)."""
        if job is self._running or job.started:
            return 0
        ahead = int(self._running is not None)
        if job.kind == VISITOR:
            for queued in self._schedule():
                if queued is job:
                    break
                ahead += 1
            return ahead
        ahead += sum(len(q) for q in self._turns.values())
        if job.kind == BACKGROUND:
            ahead += len(self._guesses)
        queue = self._guesses if job.kind == GUESS else self._background
        return ahead + (queue.index(job) if job in queue else 0)

    def _schedule(self) -> Iterable[_Job]:
        """The visitors' runs in the order the worker will take them: round robin over sessions."""
        queues = list(self._turns.values())
        for depth in range(max((len(q) for q in queues), default=0)):
            yield from (q[depth] for q in queues if depth < len(q))

    def _add(self, job: _Job) -> None:
        if self._closing:
            raise LaneClosed("the app is shutting down")
        if job.kind == VISITOR:
            self._turns.setdefault(job.session, deque()).append(job)
        elif job.kind == GUESS:
            self._guesses.appendleft(job)
            while len(self._guesses) > self._guesses_kept:
                old = self._guesses.pop()
                old.store._forget(old)
                old.future.cancel()  # nobody waits for a guess (a caller who asks promotes it first)
        else:
            self._background.append(job)
        if self._worker is None:
            self._worker = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._worker.start()
            atexit.register(self.close)
        self.lock.notify_all()

    def _promote(self, job: _Job, session: Hashable) -> None:
        """A visitor asks for a run that is a queued guess or background run: it joins the turns."""
        if job.kind in (GUESS, BACKGROUND) and not job.started:
            self._withdraw(job)
            job.kind, job.session = VISITOR, session
            self._add(job)

    def _withdraw(self, job: _Job) -> None:
        if job.kind == VISITOR:
            queue = self._turns.get(job.session)
            if queue is not None and job in queue:
                queue.remove(job)
                if not queue:
                    del self._turns[job.session]
        else:
            queue = self._guesses if job.kind == GUESS else self._background
            if job in queue:
                queue.remove(job)

    def _next(self) -> _Job | None:
        if self._turns:
            session, queue = self._turns.popitem(last=False)
            job = queue.popleft()
            if queue:
                self._turns[session] = queue  # at the back: the other sessions go first
            return job
        if self._busy:
            return None
        for queue in (self._guesses, self._background):
            if queue:
                return queue.popleft()
        return None

    # ------------------------------------------------------------------------ the worker

    def _loop(self) -> None:
        if self.nice and sys.platform.startswith("linux"):  # elsewhere a thread id is no process id
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self.nice)
        while True:
            with self.lock:
                job = None
                while not self._closing and (job := self._next()) is None:
                    self.lock.wait(IDLE_POLL_S)
                if job is None:
                    return
                self._running, job.started = job, True
            job.store._run(job)


class Results:
    """key → value, at most `max_entries` and `max_bytes` (as `nbytes` counts them; least
    recently used dropped first), each dropped `ttl_s` seconds after its last use. Values are
    shared, never copied: do not modify them. A computation runs in the caller's thread, or on
    the store's lane when asked (`get(…, lane=True)`, `prefetch`, `Background`)."""

    def __init__(self, max_entries: int, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic,
                 max_bytes: int | None = None, lane: Lane | None = None, sizeof: Callable[[Any], int] = nbytes):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries, self.ttl_s, self.max_bytes, self.lane = max_entries, ttl_s, max_bytes, lane
        self._clock, self._sizeof = clock, sizeof
        self._lock = lane.lock if lane is not None else threading.Condition()
        self._done: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()  # key → (last used, value, bytes)
        self._bytes = 0
        self._pending: dict[str, _Job] = {}  # being computed, or queued on the lane

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._done)

    @property
    def nbytes(self) -> int:
        """Bytes held by the values kept (0 when the store has no byte bound: nothing is counted)."""
        with self._lock:
            self._expire()
            return self._bytes

    def size_of(self, key: str) -> int:
        """Bytes counted for a kept value (0 if it is not kept or the store has no byte bound)."""
        with self._lock:
            entry = self._done.get(key)
            return entry[2] if entry else 0

    def ready(self, key: str) -> bool:
        """Whether `get(key, …)` would answer at once."""
        with self._lock:
            self._expire()
            return key in self._done

    def get(self, key: str, compute: Callable[[], Any], *, lane: bool = False, session: Hashable = None,
            on_wait: Callable[[int], None] | None = None, background: bool = False) -> Any:
        """The value for `key`: kept, or joined while another caller's computation runs, or
        computed: here, or with lane=True on the lane in `session`'s turn (background=True: as
        background work). While waiting, `on_wait(place)` is called every WAIT_TICK_S with how
        many runs go first; an exception from it (Streamlit stopping a script run whose visitor
        moved on) stops the wait, and takes the run out of the queue if nobody else waits for it.
        An exception from `compute` reaches every caller waiting for that key and is not kept."""
        lane = lane or background
        if lane and self.lane is None:
            raise ValueError("this store has no lane")
        with self._lock:
            self._expire()
            if key in self._done:
                return self._use(key)
            job, mine = self._pending.get(key), False
            if job is None:
                kind = (BACKGROUND if background else VISITOR) if lane else HERE
                job = self._pending[key] = _Job(self, key, compute, kind, session, started=kind == HERE)
                mine = kind == HERE
                if lane:
                    try:
                        self.lane._add(job)
                    except LaneClosed:
                        del self._pending[key]
                        raise
            elif not background and not job.started and job.kind in (GUESS, BACKGROUND):
                if lane:
                    self.lane._promote(job, session)
                else:  # the lane holds this run back while a script run (this caller's) is busy: run it here
                    self.lane._withdraw(job)
                    job.kind, job.started, mine = HERE, True, True
            job.waiters += 1
        if mine:
            self._run(job)
        return self._wait(job, on_wait)

    def prefetch(self, key: str, compute: Callable[[], Any]) -> None:
        """Compute `key` on the lane when it is idle (a guess: see Lane), unless it is kept,
        being computed or already waiting."""
        if self.lane is None:
            raise ValueError("this store has no lane")
        with self._lock:
            self._expire()
            if key in self._done or key in self._pending or self.lane._closing:
                return
            job = self._pending[key] = _Job(self, key, compute, GUESS)
            self.lane._add(job)

    # -----------------------------------------------------------------------------------

    def _use(self, key: str) -> Any:
        _, value, size = self._done[key]
        self._done[key] = (self._clock(), value, size)
        self._done.move_to_end(key)
        return value

    def _wait(self, job: _Job, on_wait: Callable[[int], None] | None) -> Any:
        try:
            while True:
                try:
                    return job.future.result(timeout=WAIT_TICK_S)
                except TimeoutError:
                    pass
                if on_wait is not None:
                    with self._lock:
                        place = self.lane._place(job) if self.lane is not None else 0
                    on_wait(place)
        finally:
            with self._lock:
                job.waiters -= 1
                if not job.waiters and not job.started and job.kind in (VISITOR, BACKGROUND):
                    self.lane._withdraw(job)  # nobody waits for it any more: it never runs
                    self._forget(job)
                    job.future.cancel()
                    self._lock.notify_all()

    def _run(self, job: _Job) -> None:
        """Compute `job` (in the caller's thread, or the lane's worker) and keep its value."""
        try:
            value, error = job.compute(), None
        except BaseException as e:  # noqa: BLE001 (handed to every waiting caller, raised there)
            value, error = None, e
        with self._lock:
            self._forget(job)
            if error is None:
                self._keep(job.key, value)
            if self.lane is not None and self.lane._running is job:
                self.lane._running = None
            self._lock.notify_all()
        if error is None:
            job.future.set_result(value)
        else:
            if job.kind in (GUESS, BACKGROUND):
                log.info("%s run of %s failed", job.kind, job.key, exc_info=error)
            job.future.set_exception(error)

    def _keep(self, key: str, value: Any) -> None:
        size = self._sizeof(value) if self.max_bytes is not None else 0
        if key in self._done:
            self._bytes -= self._done[key][2]
        self._done[key] = (self._clock(), value, size)
        self._done.move_to_end(key)
        self._bytes += size
        while len(self._done) > self.max_entries or (self.max_bytes is not None and self._bytes > self.max_bytes):
            _, (_, _, dropped) = self._done.popitem(last=False)
            self._bytes -= dropped

    def _forget(self, job: _Job) -> None:
        if self._pending.get(job.key) is job:
            del self._pending[job.key]

    def _expire(self) -> None:
        """Drop entries unused for ttl_s (called with the lock held)."""
        if self.ttl_s is None:
            return
        oldest_kept = self._clock() - self.ttl_s
        for key in [k for k, (used, _, _) in self._done.items() if used < oldest_kept]:
            self._bytes -= self._done.pop(key)[2]


class _Stopped(Exception):
    pass


class Background:
    """Tasks (store, key, compute) computed in order as background work on their stores' lane
    (after every visitor's run and guess, and only while no script run is busy), from a thread
    of its own, until the tasks run out, a store could not keep another value without dropping
    one (its byte bound: the largest value so far is the estimate), or `stop()`."""

    def __init__(self, tasks: Iterable[tuple[Results, str, Callable[[], Any]]], name: str = "results-background",
                 on_done: Callable[[Background], None] | None = None):
        self._tasks, self._on_done = tasks, on_done
        self._stop = threading.Event()
        self.finished = threading.Event()
        self.done = self.failed = 0  # tasks whose value is kept now; tasks that raised
        self.full = False  # stopped at a store's byte bound
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Background:
        self._thread.start()
        atexit.register(self.stop)  # registered after the lane's close: runs before it
        return self

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 30) -> bool:
        """Stop taking tasks: a wait in the queue ends within WAIT_TICK_S, a run in progress
        finishes (and is kept) first. True once the thread has ended."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _check(self, store: Results, key: str) -> None:
        if self._stop.is_set():
            with store._lock:
                job = store._pending.get(key)
                if job is None or not job.started:  # a run in progress is waited for: it is kept
                    raise _Stopped

    def _loop(self) -> None:
        start, largest = time.monotonic(), 0
        try:
            for store, key, compute in self._tasks:
                if self._stop.is_set():
                    break
                if store.max_bytes is not None and store.nbytes + largest > store.max_bytes:
                    self.full = True
                    break
                try:
                    store.get(key, compute, background=True, on_wait=lambda _, s=store, k=key: self._check(s, k))
                except (_Stopped, LaneClosed):
                    break
                except Exception:  # noqa: BLE001 (a model that fails here is left for a visitor to see why)
                    self.failed += 1
                    continue
                self.done += 1
                largest = max(largest, store.size_of(key))
        finally:
            self.seconds = time.monotonic() - start
            self.finished.set()
            if self._on_done is not None:
                self._on_done(self)
