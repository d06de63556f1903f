"""The app's shared stores and lane (explorer.results): one computation per key, bounds, expiry,
errors; model runs in turns across sessions, guesses and background work that yield to the
foreground, and the gallery work that stops at its bound and stops cleanly."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from explorer.results import Background, Lane, LaneClosed, Results, nbytes


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_key_is_computed_once_and_then_shared_as_the_same_object():
    store, calls = Results(4), []
    value = store.get("a", lambda: calls.append(1) or ["result"])
    assert store.get("a", lambda: calls.append(1) or ["other"]) is value
    assert calls == [1] and store.ready("a") and len(store) == 1


@pytest.mark.parametrize("lane", [False, True])
def test_callers_asking_at_once_share_one_computation(lane):
    store, calls, started = Results(4, lane=Lane()), [], threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return object()

    answers = []
    first = threading.Thread(target=lambda: answers.append(store.get("k", slow, lane=lane, session="a")))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: answers.append(store.get("k", slow, lane=lane, session="b")))
    second.start()
    first.join(), second.join()
    assert len(calls) == 1 and answers[0] is answers[1]


def test_least_recently_used_entries_go_first():
    store = Results(2)
    for key in "ab":
        store.get(key, lambda k=key: k)
    store.get("a", lambda: "recomputed")  # a is now the most recent
    store.get("c", lambda: "c")
    assert store.ready("a") and store.ready("c") and not store.ready("b")


def test_the_byte_bound_drops_the_least_recently_used_until_the_rest_fits():
    store = Results(100, max_bytes=2500)
    for key in "abc":
        store.get(key, lambda: bytes(1000))
    assert [store.ready(k) for k in "abc"] == [False, True, True] and store.nbytes == 2000
    store.get("big", lambda: np.zeros(2000, np.uint8))
    assert store.ready("big") and not store.ready("b") and not store.ready("c") and store.nbytes == 2000
    store.get("huge", lambda: bytes(3000))  # more than the bound alone: returned, not kept
    assert len(store) == 0 and store.nbytes == 0


def test_nbytes_counts_arrays_bytes_and_strings_once_through_containers_and_dataclasses():
    from explorer.state import Shown

    shared = np.zeros((10, 10), np.float32)  # 400 B
    assert nbytes({"x": shared, "y": [shared, b"12345", ("abc", 7, 2.5, None)]}) == 1 + 1 + 400 + 5 + 3
    a = type("Analysis", (), {})()
    a.original, a.reconstruction, a.latent = np.zeros(300, np.uint8), np.zeros(300, np.uint8), shared
    shown = Shown(a, b"png!", "its key")
    assert shown.nbytes == nbytes({"reconstruction": 0, "latent": 0}) + 300 + 400 + 4  # not the input image
    assert nbytes(shown) == shown.nbytes  # a class saying what it holds is taken at its word


def test_entries_expire_after_their_time_without_use():
    clock = Clock()
    store = Results(4, ttl_s=10, clock=clock)
    store.get("a", lambda: 1)
    clock.now = 9
    assert store.get("a", lambda: 2) == 1  # used: its clock restarts
    clock.now = 18
    assert store.ready("a")
    clock.now = 19.5
    assert not store.ready("a") and len(store) == 0
    assert store.get("a", lambda: 3) == 3


@pytest.mark.parametrize("lane", [False, True])
def test_errors_reach_the_caller_and_are_not_kept(lane):
    store = Results(4, lane=Lane())
    with pytest.raises(ZeroDivisionError):
        store.get("bad", lambda: 1 / 0, lane=lane)
    assert not store.ready("bad")
    assert store.get("bad", lambda: "fixed", lane=lane) == "fixed"


def test_prefetch_computes_on_the_lane_and_get_does_not_recompute():
    lane = Lane(name="the-lane")
    store, calls = Results(4, lane=lane), []
    store.prefetch("p", lambda: calls.append("background") or threading.current_thread().name)
    assert lane.wait_idle(5)
    assert store.get("p", lambda: calls.append("foreground")) == "the-lane"
    assert calls == ["background"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have nice values of their own on Linux")
def test_the_lane_runs_at_a_lower_priority_than_the_callers():
    lane = Lane(nice=3)
    store = Results(4, lane=lane)

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert store.get("p", priority, lane=True) == priority() + 3


def test_prefetch_waits_while_the_foreground_is_busy_and_keeps_the_newest_guesses():
    lane = Lane()
    store, order = Results(8, lane=lane), []
    with lane.foreground():
        for key in "abcdef":
            store.prefetch(key, lambda k=key: order.append(k))
        time.sleep(0.3)
        assert order == []  # nothing runs while a script run is busy
    assert lane.wait_idle(5)
    assert order == ["f", "e", "d", "c"]  # newest first; the two oldest guesses were dropped


# ---------------------------------------------------------------------------------------
# Turns: the visitors' runs, round robin across sessions

class Visitors:
    """Callers on their own threads asking a store on a lane that is held busy until release()."""

    def __init__(self):
        self.lane = Lane()
        self.store = Results(64, lane=self.lane)
        self.gate, self.ran, self.places, self.threads = threading.Event(), [], {}, []
        self.ask("gate", "first", lambda: self.gate.wait(10))
        until(lambda: self.lane._running is not None)

    def ask(self, session: str, key: str, compute=None, on_wait=None) -> threading.Thread:
        def places(ahead: int) -> None:
            self.places[key] = ahead
            if on_wait:
                on_wait(ahead)

        def run():
            try:
                self.store.get(key, compute or (lambda: self.ran.append(key) or key), lane=True, session=session,
                               on_wait=places)
            except RuntimeError:
                pass

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        if key != "first":
            until(lambda: key in self.lane.waiting())
        return thread

    def release(self) -> None:
        self.gate.set()
        for thread in self.threads:
            thread.join(10)


def test_sessions_take_turns_one_run_each_whoever_asked_first():
    v = Visitors()
    for session, key in [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("b", "b2"), ("c", "c1")]:
        v.ask(session, key)
    assert v.lane.waiting() == ["a1", "b1", "c1", "a2", "b2", "a3"]
    until(lambda: all(k in v.places for k in ("a1", "a2", "a3", "b1", "b2", "c1")))
    del v.places["first"]
    assert v.places == {"a1": 1, "b1": 2, "c1": 3, "a2": 4, "b2": 5, "a3": 6}  # the gate's run goes first
    v.ask("d", "d1")  # a newcomer goes after the sessions already waiting, before their second runs
    assert v.lane.waiting() == ["a1", "b1", "c1", "d1", "a2", "b2", "a3"]
    v.release()
    assert v.ran == ["a1", "b1", "c1", "d1", "a2", "b2", "a3"]


def leaves_when(moved_on: threading.Event):
    """An on_wait that raises once `moved_on` is set, as Streamlit stops the script run of a
    visitor who has moved on (another upload, a closed tab) at its next yield point."""
    def on_wait(ahead: int) -> None:
        if moved_on.is_set():
            raise RuntimeError("the visitor moved on")
    return on_wait


def test_a_visitor_who_stops_waiting_takes_the_run_out_of_the_queue():
    v = Visitors()
    moved_on = threading.Event()
    v.ask("a", "old upload", on_wait=leaves_when(moved_on))
    v.ask("b", "b1")
    moved_on.set()
    until(lambda: v.lane.waiting() == ["b1"])
    v.release()
    assert v.ran == ["b1"] and not v.store.ready("old upload")


def test_a_run_two_visitors_wait_for_stays_when_one_leaves():
    v = Visitors()
    leave = threading.Event()
    v.ask("a", "shared", on_wait=leaves_when(leave))
    answer = []
    other = threading.Thread(target=lambda: answer.append(v.store.get("shared", lambda: "never twice", lane=True,
                                                                      session="b")))
    other.start()
    until(lambda: v.store._pending["shared"].waiters == 2)
    leave.set()
    until(lambda: v.store._pending["shared"].waiters == 1)
    v.release()
    other.join(5)
    assert v.ran == ["shared"] and answer == ["shared"]


def test_a_visitor_asking_for_a_queued_guess_moves_it_into_the_turns():
    v = Visitors()
    v.store.prefetch("guess", lambda: v.ran.append("guess") or "guess")
    v.ask("b", "b1")
    v.ask("a", "guess")
    assert v.lane.waiting() == ["b1", "guess"]
    v.release()
    assert v.ran == ["b1", "guess"]


# ---------------------------------------------------------------------------------------
# Background work (the gallery at server start)

def tasks(store: Results, n: int, log: list, size: int = 1000, seconds: float = 0.0):
    for i in range(n):
        yield store, f"t{i}", lambda i=i: log.append(i) or time.sleep(seconds) or bytes(size)


def test_background_work_computes_in_order_and_stops_before_the_store_would_drop_any():
    lane = Lane()
    store, log = Results(100, max_bytes=3500, lane=lane), []
    work = Background(tasks(store, 10, log)).start()
    assert work.finished.wait(10)
    assert log == [0, 1, 2] and work.full and work.done == 3  # a fourth would not fit beside the three
    assert store.nbytes == 3000 and all(store.ready(f"t{i}") for i in range(3))


def test_background_work_yields_to_script_runs_and_to_visitors():
    lane = Lane()
    store, log = Results(100, lane=lane), []
    with lane.foreground():
        work = Background(tasks(store, 3, log)).start()
        time.sleep(0.3)
        assert log == []  # a script run is busy: nothing starts
        assert store.get("visitor", lambda: log.append("visitor") or 1, lane=True, session="s") == 1
        assert log == ["visitor"]  # a visitor's run does not wait for the foreground to end
    assert work.finished.wait(10)
    assert log == ["visitor", 0, 1, 2] and work.done == 3 and not work.full


def test_a_script_run_that_needs_a_queued_background_run_computes_it_itself():
    """The page asks (in its own thread, no lane) for a value the gallery work has queued: the
    lane holds that run back while the page's script run is busy, so waiting for it would never end."""
    lane = Lane()
    store, log = Results(100, lane=lane), []
    with lane.foreground():
        work = Background(tasks(store, 3, log)).start()
        until(lambda: lane._background)
        queued = lane._background[0].key
        asked = threading.Thread(target=lambda: log.append(("page", store.get(queued, lambda: "unused"))))
        asked.start()
        asked.join(5)
        assert not asked.is_alive(), "the script run waited for a run the lane holds back"
        assert log[:2] == [0, ("page", bytes(1000))]  # the queued run's own computation ran, once, in the page's thread
    assert work.finished.wait(10) and work.done == 3 and log[2:] == [1, 2]


def test_background_work_stops_cleanly_while_waiting_and_while_running():
    lane = Lane()
    store, log = Results(100, lane=lane), []
    with lane.foreground():  # its first task waits in the queue
        work = Background(tasks(store, 5, log)).start()
        until(lambda: lane._background)
        start = time.monotonic()
        assert work.stop(timeout=5)
        assert time.monotonic() - start < 1 and work.stopped and log == []
        assert not lane._background and not store._pending  # its waiting run left the queue
    work = Background(tasks(store, 5, log, seconds=0.3)).start()
    until(lambda: log)
    assert work.stop(timeout=5)
    assert log == [0] and store.ready("t0") and lane.wait_idle(1)  # the run in progress finished and was kept


def test_a_closed_lane_answers_its_waiting_callers_and_takes_no_more():
    lane = Lane()
    store = Results(4, lane=lane)
    errors = []
    with lane.foreground():
        store.prefetch("guess", lambda: 1)
        work = Background(tasks(store, 3, [])).start()
        until(lambda: lane._background)
        lane.close()
        assert work.finished.wait(5) and work.done == 0
    with pytest.raises(LaneClosed):
        store.get("late", lambda: 1, lane=True)
    assert not errors and not store._pending
