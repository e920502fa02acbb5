"""Shared fixtures. The data dir is $MEMREASONER_DATA (CI: ../shared/data), else ../shared/data."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("MEMREASONER_DATA") or REPO.parent / "shared" / "data").resolve()


# Absolute, so a test that changes directory still finds it; set before any test imports data code.
os.environ["MEMREASONER_DATA"] = str(_data_dir())
# Tests build throwaway book folders and checkpoints: their tokenised books and line embeddings go to a
# cache of this session, never into the user's (~/.cache/memreasoner), which would only grow.
SESSION_CACHE = os.environ["MEMREASONER_CACHE"] = tempfile.mkdtemp(prefix="memreasoner-test-cache-")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _data_dir()


@pytest.fixture(autouse=True)
def _no_leftover_data_dir_flag():
    """`memreasoner --data-dir` sets a process-wide override; keep one test's from leaking into the next."""
    from memreasoner.paths import set_data_dir

    yield
    set_data_dir(None)


@pytest.fixture(scope="module")
def one_thread():
    """For compute-bound test modules (`pytestmark = pytest.mark.usefixtures("one_thread")`): on a busy
    2-core machine one torch thread is several times faster than two spinning against each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
