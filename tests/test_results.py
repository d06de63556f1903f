"""The app's shared result store (explorer.results): one computation per key, bounds,
expiry, errors, and prefetching that yields to the foreground."""

from __future__ import annotations

import threading
import time

import pytest

from explorer.results import Results


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_computed_once_and_then_shared_as_the_same_object():
    store, calls = Results(4), []
    value = store.get("a", lambda: calls.append(1) or ["result"])
    assert store.get("a", lambda: calls.append(1) or ["other"]) is value
    assert calls == [1] and store.ready("a") and len(store) == 1


def test_callers_asking_at_once_share_one_computation():
    store, calls, started = Results(4), [], threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return object()

    answers = []
    first = threading.Thread(target=lambda: answers.append(store.get("k", slow)))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: answers.append(store.get("k", slow)))
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


def test_errors_reach_the_caller_and_are_not_kept():
    store = Results(4)
    with pytest.raises(ZeroDivisionError):
        store.get("bad", lambda: 1 / 0)
    assert not store.ready("bad")
    assert store.get("bad", lambda: "fixed") == "fixed"


def test_prefetch_computes_in_the_background_and_get_does_not_recompute():
    store, calls = Results(4), []
    store.prefetch("p", lambda: calls.append("background") or threading.current_thread().name)
    assert store.wait_prefetched(5)
    assert store.get("p", lambda: calls.append("foreground")) == "results-prefetch"
    assert calls == ["background"]


def test_prefetch_waits_while_the_foreground_is_busy_and_keeps_the_newest_guesses():
    store, order = Results(8), []
    with store.foreground():
        for key in "abcdef":
            store.prefetch(key, lambda k=key: order.append(k))
        time.sleep(0.3)
        assert order == []  # nothing runs while a script run is busy
    assert store.wait_prefetched(5)
    assert order == ["f", "e", "d", "c"]  # newest first; the two oldest guesses were dropped
