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
from typing import Generic, TypeVar

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

    The first `ahead` (default: `workers`) calls start at once, before the first result is
    asked for, so that a caller can do other work meanwhile (ingestion reads farms.csv
    while the sensor files download). From then on at most `ahead` calls are submitted and
    not yet taken by the consumer, and an item is only drawn from `items` when there is
    room, so a lazy iterable is never read far ahead. An error raised by `work` surfaces
    at its item's turn. With no workers everything runs in the caller's thread, one item
    at a time, when asked for. close() (also on an error, or at the end) cancels what has
    not started.
    """
    if workers < 1:
        return (work(item) for item in items)
    return _OrderedResults(work, items, workers, max(ahead or workers, 1), name)


class _OrderedResults(Iterator[Result], Generic[Item, Result]):
    def __init__(
        self,
        work: Callable[[Item], Result],
        items: Iterable[Item],
        workers: int,
        ahead: int,
        name: str,
    ) -> None:
        self._work, self._items, self._ahead = work, iter(items), ahead
        self._pending: deque[Future[Result]] = deque()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(workers, thread_name_prefix=name)
        try:
            self._submit(ahead)
        except BaseException:
            self.close()
            raise

    def _submit(self, room: int) -> None:
        """Draw and submit items until `room` calls are pending or the items run out."""
        assert self._pool is not None
        while len(self._pending) < room:
            item = next(self._items, _END)
            if item is _END:
                return
            self._pending.append(self._pool.submit(self._work, item))  # type: ignore[arg-type]
            del item  # the worker holds it now, and drops it when done

    def __next__(self) -> Result:
        if self._pool is None:
            raise StopIteration
        try:
            self._submit(self._ahead)  # counting the one taken now
            if not self._pending:
                raise StopIteration
            return self._pending.popleft().result()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Cancel the calls that have not started and let the threads go."""
        if getattr(self, "_pool", None) is None:  # closed, or __init__ failed early
            return
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def __del__(self) -> None:
        self.close()


_END = object()


def fetch_concurrently(
    read: Callable[[str], bytes],
    keys: Iterable[str],
    max_workers: int,
    capture: tuple[type[BaseException], ...] = (OSError,),
) -> Iterator[tuple[str, bytes | BaseException]]:
    """(key, bytes) in the order given, read by up to max_workers threads.

    At most 2 × max_workers reads run ahead of the consumer, so memory stays bounded
    however many keys there are. An error of a ``capture`` type is yielded in place of
    the bytes (one bad file must not stop the others); any other error surfaces at its
    key's turn. Closing the iterator early cancels what has not started.
    """

    def fetch(key: str) -> tuple[str, bytes | BaseException]:
        try:
            return key, read(key)
        except capture as error:
            return key, error

    workers = max_workers if max_workers > 1 else 0  # one: plain sequential reads
    return ordered_map(fetch, keys, workers, ahead=2 * max_workers, name="yieldflow-read")
