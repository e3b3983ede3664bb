"""How many CPU threads training uses, and a scope that sets it and puts it back.

Why: torch's intra-op threads pay off only for large matrices. For the pipeline's own sizes
(tens to thousands of rows, batches of 8 to a few thousand, layers of 32 units) every op
is microseconds long, and a second thread turns each one into a wait for a partner thread;
on a shared machine that partner is often descheduled. Measured on the 2-core CI kind of
machine under load (docs/benchmarks.md, Findings): 500 epochs on 40 rows took 41-84 s with
torch's default 2 threads and 4-8 s with one; batches of 64, 512 and 4096 rows were 20x,
40x and 20x slower with 2 threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# Below this many elements in a step's largest activation (batch rows × widest layer),
# extra threads cost more than they give; above it torch's default is kept.
SMALL_STEP_ELEMENTS = 1 << 20


def choose_threads(requested: int, batch_rows: int, widest_layer: int, default: int) -> int:
    """The thread count to train with: `requested` if set (> 0), else automatic."""
    if requested > 0:
        return requested
    if batch_rows * widest_layer < SMALL_STEP_ELEMENTS:
        return 1
    return default


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` intra-op threads, restoring the previous count after."""
    previous = torch.get_num_threads()
    if count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
