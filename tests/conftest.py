"""Shared pytest fixtures."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Small tensor ops run much faster on 1 thread than on 2 threads of a busy 2-core
    machine; modules of small-op tests opt in with ``pytestmark = usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
