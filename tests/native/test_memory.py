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


@pytest.mark.parametrize("shape", [(1200, 1200), (784, 800), (33, 65), (70, 45), (1, 7), (7, 1), (0, 5)])
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


# --- the recycling pool ------------------------------------------------------------------
BIG = (1100, 1200)  # 5.3 MB float32: above POOL_MIN_BYTES


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def test_pool_reuses_a_buffer_only_once_no_tensor_or_view_refers_to_it():
    pool = memory.BufferPool()
    a = pool.take(BIG, torch.float32)
    assert a is not None and a.shape == BIG and a.is_contiguous() and a.data_ptr() % 64 == 0
    view = a[10:20]
    ptr_a = _storage(a)
    del a
    b = pool.take(BIG, torch.float32)  # the view still holds the first buffer
    assert _storage(b) != ptr_a
    b.fill_(1.0)
    view.fill_(2.0)  # writing the view does not touch b
    assert float(b.sum()) == b.numel()
    del view
    c = pool.take((1200, 1100), torch.float32)  # same size, other shape: the freed buffer again
    assert _storage(c) == ptr_a and pool.held() == 2 * 1100 * 1200 * 4
    d = pool.take((1100 * 1200 * 4,), torch.bool)  # same bytes, other dtype: in use? no, c and b are
    assert _storage(d) not in (_storage(b), _storage(c))


def test_pool_capacity_eviction_release_and_switching_off(monkeypatch):
    pool = memory.BufferPool()
    nbytes = 1100 * 1200 * 4
    monkeypatch.setenv("SNNSIM_POOL_MB", str(2.2 * nbytes / 2**20))  # room for two buffers, not 2.5
    a, b = pool.take(BIG, torch.float32), pool.take(BIG, torch.float32)
    assert a is not None and b is not None
    assert pool.take(BIG, torch.float32) is None  # both in use: the caller allocates plainly
    del a
    e = pool.take((nbytes // 16,), torch.float64)  # half the size: evicts the free buffer first
    assert e is not None and pool.held() == nbytes + nbytes // 2
    del e
    assert pool.release() == nbytes // 2 and pool.held() == nbytes  # b is still in use
    monkeypatch.setenv("SNNSIM_POOL_MB", "0")
    assert pool.take(BIG, torch.float32) is None
    assert pool.take((10, 10), torch.float32) is None  # below POOL_MIN_BYTES whatever the cap
    monkeypatch.setenv("SNNSIM_POOL_MB", "lots")
    with pytest.raises(ValueError, match="SNNSIM_POOL_MB"):
        pool.take(BIG, torch.float32)


def test_pool_poison_fills_every_buffer_with_nan(monkeypatch):
    pool = memory.BufferPool()
    a = pool.take(BIG, torch.float32)
    a.zero_()
    del a
    monkeypatch.setenv("SNNSIM_POOL_POISON", "1")
    assert bool(pool.take(BIG, torch.float32).isnan().all())


def test_pool_hands_distinct_buffers_to_concurrent_threads():
    import threading

    pool, got, barrier = memory.BufferPool(), [], threading.Barrier(4)

    def grab():
        barrier.wait()
        got.append(pool.take(BIG, torch.float32))

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({_storage(t) for t in got}) == 4


def test_kernel_outputs_from_the_pool_do_not_alias_live_results():
    """Two LIF passes in a row: the second result must not overwrite the first (still alive)."""
    from snnsim.native import lif

    if lif.native_status() != "loaded":
        pytest.skip(lif.native_status())
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.rand(25, 128, 800, generator=g), torch.rand(25, 128, 800, generator=g) * 2
    s1, v1, p1 = lif.lif_forward(x1, 0.9, 1.0, 0.0, "zero", True, 2)
    keep = (s1.clone(), v1.clone(), p1.clone())
    s2, v2, p2 = lif.lif_forward(x2, 0.9, 1.0, 0.0, "zero", True, 2)
    assert all(torch.equal(a, b) for a, b in zip((s1, v1, p1), keep))
    assert len({_storage(t) for t in (s1, v1, p1, s2, v2, p2)}) == 6
    del s1, v1, p1, keep
    s3, _, _ = lif.lif_forward(x2, 0.9, 1.0, 0.0, "zero", True, 2)
    assert torch.equal(s3, s2)


def test_no_kernel_reads_memory_it_has_not_written():
    """The kernel tests again, with every native output taken from the pool and filled with NaN
    (SNNSIM_POOL_MIN_BYTES=0, SNNSIM_POOL_POISON=1): a kernel that reads an output element before
    writing it, or leaves one unwritten, makes them fail."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tests = ["tests/native/test_lif.py", "tests/native/test_events.py", "tests/native/test_narrow.py"]
    tests += ["tests/core/test_pooling.py", "tests/core/test_direct_conv.py", "tests/core/test_event_conv.py"]
    env = {**os.environ, "SNNSIM_POOL_MIN_BYTES": "0", "SNNSIM_POOL_POISON": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
