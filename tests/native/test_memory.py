"""snnsim.native.memory: huge-page advice for large fresh outputs (a hint only: contents and
results unchanged), and the tiled C transpose of the event-driven op's weight tables."""

import platform

import pytest
import torch

from snnsim.native import events as events_native
from snnsim.native import memory


def test_large_cpu_buffers_are_advised_small_and_switched_off_are_not(monkeypatch):
    big = memory.empty((1100, 1200))  # 5.3 MB: has an aligned 2 MB interior
    assert big.shape == (1100, 1200) and big.dtype == torch.float32 and big.is_contiguous()
    assert memory.advise_huge(big) == (platform.system() == "Linux")
    big.fill_(3.0)  # writable, values as written
    assert float(big.sum()) == 3.0 * big.numel()
    assert not memory.advise_huge(torch.empty(100, 100))  # under MIN_BYTES
    monkeypatch.setenv("SNNSIM_HUGEPAGES", "0")
    assert not memory.advise_huge(torch.empty(1100, 1200))
    like = memory.empty_like(torch.zeros(3, 4, dtype=torch.float64), torch.bool)
    assert like.shape == (3, 4) and like.dtype == torch.bool


@pytest.mark.parametrize("shape", [(1200, 1200), (784, 800), (33, 65), (1, 7), (7, 1), (0, 5)])
def test_transpose_is_an_exact_copy(shape):
    x = torch.randn(shape)
    out = events_native.transpose(x)
    assert out.is_contiguous() and torch.equal(out, x.t().contiguous())


def test_transpose_other_inputs_go_through_torch():
    x = torch.randn(40, 30, dtype=torch.float64)
    assert torch.equal(events_native.transpose(x), x.t().contiguous())
    y = torch.randn(30, 40).t()  # non-contiguous float32
    assert torch.equal(events_native.transpose(y), y.t().contiguous())


def test_one_pass_and_chunked_gather_add_in_the_same_order(monkeypatch):
    if events_native.native_status() != "loaded":
        pytest.skip(events_native.native_status())
    g = torch.Generator().manual_seed(0)
    x, table = torch.rand(300, 1500, generator=g) < 0.05, torch.randn(1500, 70, generator=g)
    one, _ = events_native.bag_sum(x, table)
    monkeypatch.setattr(events_native, "_ONE_PASS_ROWS", 0)
    monkeypatch.setattr(events_native, "_CHUNK_ROWS", 256)
    chunked, _ = events_native.bag_sum(x, table)
    assert torch.equal(one, chunked)
    assert torch.allclose(one, x.float() @ table, atol=1e-4)
