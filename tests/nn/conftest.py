"""Layer tests run on one thread (see the fixture)."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Tiny convs gain nothing from a second thread, and on a shared 2-core machine an OpenMP barrier
    # waiting for a descheduled thread makes each op take a scheduler tick (measured 3x slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
