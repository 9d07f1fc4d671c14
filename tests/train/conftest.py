"""One torch thread for the training tests: on a busy shared 2-core machine, two threads wait on each
other and tiny models train many times slower; results do not depend on it."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
