"""Work on a few threads with the results handed back in order.

Downloads (S3 objects) and ingestion batches have the same shape: items come from a lazy
iterable, each is worked on by one call, and the consumer needs the results in the items'
order (the output must not depend on which thread finished first). Bounding how far the
submissions run ahead of the consumer bounds memory however many items there are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(
    work: Callable[[Item], Result],
    items: Iterable[Item],
    workers: int,
    ahead: int | None = None,
    name: str = "yieldflow",
) -> Iterator[Result]:
    """work(item) for every item on up to `workers` threads, yielded in the items' order.

    At most `ahead` (default: `workers`) calls are submitted and not yet taken by the
    consumer, and an item is only drawn from `items` when there is room, so a lazy
    iterable is never read far ahead. An error raised by `work` surfaces at its item's
    turn. With no workers everything runs in the caller's thread, one item at a time (one
    worker still runs `work` beside the caller drawing the next item). Closing the
    iterator early cancels what has not started.
    """
    if workers < 1:
        for item in items:
            yield work(item)
        return
    ahead = max(ahead or workers, 1)
    pending: deque[Future[Result]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            del item  # the worker holds it now, and drops it when done
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
