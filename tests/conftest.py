"""Test-wide settings: headless rendering, offline hubs, deterministic torch."""

import os
from collections.abc import Iterator

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Every test runs torch on one thread: the models under test are tiny, and on a shared 2-core
    machine an OpenMP barrier waiting for a descheduled second thread makes each op take a scheduler
    tick (measured 3x slower). Results do not depend on it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def c2pa_identity_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Signed outputs use a signing identity made for this test session, not the user's own."""
    if "WORLDFM_C2PA_DIR" not in os.environ:
        os.environ["WORLDFM_C2PA_DIR"] = str(tmp_path_factory.mktemp("c2pa-identity"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests when CUDA is missing (they are deselected by default anyway)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
