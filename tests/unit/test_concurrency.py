"""yieldflow.io.concurrency.ordered_map: results in the items' order, bounded look-ahead."""

from __future__ import annotations

import threading
import time

import pytest

from yieldflow.io.concurrency import ordered_map


def test_results_come_in_item_order_whatever_finishes_first():
    def slow_first(i: int) -> int:
        time.sleep(0.05 if i % 3 == 0 else 0)
        return i * i

    assert list(ordered_map(slow_first, range(12), workers=3)) == [i * i for i in range(12)]


@pytest.mark.parametrize("workers, ahead", [(1, None), (2, None), (2, 5)])
def test_items_are_drawn_only_when_there_is_room(workers, ahead):
    drawn, in_flight, most = [], [0], [0]
    lock = threading.Lock()

    def items():
        for i in range(20):
            drawn.append(i)
            yield i

    def work(i: int) -> int:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.01)
        with lock:
            in_flight[0] -= 1
        return i

    results = ordered_map(work, items(), workers, ahead=ahead)
    first = next(results)
    limit = ahead or workers
    # Taking the first result drew at most `limit` items, plus the one that waits its turn.
    assert first == 0 and len(drawn) <= limit + 1
    assert list(results) == list(range(1, 20))
    assert most[0] <= workers


def test_an_error_surfaces_at_its_items_turn():
    def work(i: int) -> int:
        if i == 3:
            raise ValueError("three")
        return i

    results = ordered_map(work, range(6), workers=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three"):
        next(results)


def test_no_workers_runs_in_the_callers_thread():
    callers = set()

    def work(i: int) -> int:
        callers.add(threading.current_thread())
        return i

    assert list(ordered_map(work, range(4), workers=0)) == [0, 1, 2, 3]
    assert callers == {threading.current_thread()}


def test_the_first_calls_start_before_any_result_is_asked_for():
    """Ingestion reads farms.csv while the first sensor files download."""
    started = threading.Event()

    def work(i: int) -> int:
        started.set()
        return i

    results = ordered_map(work, range(5), workers=2, ahead=3)
    assert started.wait(5)
    assert list(results) == [0, 1, 2, 3, 4]


def test_closing_before_the_first_result_cancels_what_has_not_started():
    release, ran = threading.Event(), []

    def work(i: int) -> int:
        release.wait(5)
        ran.append(i)
        return i

    results = ordered_map(work, range(10), workers=1, ahead=4)
    results.close()  # type: ignore[attr-defined]
    release.set()
    time.sleep(0.1)
    assert ran in ([], [0])  # at most the call already running
    with pytest.raises(StopIteration):
        next(results)


def test_items_that_are_not_iterable_fail_at_the_call_and_nothing_else(monkeypatch):
    """A failed __init__ leaves no half-made object whose __del__ raises on its way out."""
    import gc
    import sys

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(TypeError):
        ordered_map(lambda i: i, 42, workers=2)  # type: ignore[arg-type]
    gc.collect()
    assert unraisable == []
