"""The C kernels of the event-driven linear op equal its torch path bit for bit."""

import pytest
import torch

from snnsim.core.connections import event_linear
from snnsim.native import events as events_native

pytestmark = pytest.mark.skipif(
    events_native.native_status() != "loaded",
    reason=f"native event kernels not available: {events_native.native_status()}",
)

# (rows, inputs, outputs, density): inputs below / across the 64-byte chunks, outputs
# below / across the 8- and 64-wide register blocks, empty and full matrices
SHAPES = [
    (1, 1, 1, 1.0),
    (7, 13, 5, 0.3),
    (50, 64, 8, 0.2),
    (33, 65, 9, 0.5),
    (40, 200, 130, 0.05),
    (300, 784, 70, 0.07),
    (20, 100, 3, 0.0),
    (10, 130, 17, 1.0),
    (2500, 70, 130, 0.1),
]


def _linear_run(spikes, weight, bias, gout, native, monkeypatch):
    monkeypatch.setenv("SNNSIM_NATIVE", "1" if native else "0")
    lin = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        lin.weight.copy_(weight)
        lin.bias.copy_(bias)
    assert events_native.native_usable(spikes, lin.weight.t()) == native
    out = event_linear(spikes, lin)
    gw, gb = torch.autograd.grad((out * gout).sum(), [lin.weight, lin.bias])
    return out.detach(), gw, gb


@pytest.mark.parametrize("n,k,m,density", SHAPES)
def test_native_event_linear_is_bit_identical_to_torch_path(n, k, m, density, monkeypatch):
    g = torch.Generator().manual_seed(n * 1000 + k)
    spikes = torch.rand(n, k, generator=g) < density
    weight, bias = torch.randn(m, k, generator=g), torch.randn(m, generator=g)
    gout = torch.randn(n, m, generator=g)
    native = _linear_run(spikes, weight, bias, gout, True, monkeypatch)
    ref = _linear_run(spikes, weight, bias, gout, False, monkeypatch)
    for a, b in zip(native, ref):
        assert torch.equal(a, b)
    dense = spikes.float() @ weight.t() + bias  # and both are the dense op
    assert torch.allclose(native[0], dense, atol=1e-5)
    assert torch.allclose(native[1], gout.t() @ spikes.float(), atol=1e-4)


def test_native_kernels_same_result_on_any_thread_count():
    g = torch.Generator().manual_seed(3)
    spikes = torch.rand(4096, 700, generator=g) < 0.05
    table, grad = torch.randn(700, 300, generator=g), torch.randn(4096, 300, generator=g)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out, index = events_native.bag_sum(spikes, table)
            results.append((out, events_native.bag_sum_transposed(index, 700, grad)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_native_index_lists_the_active_inputs_in_order():
    spikes = torch.zeros(3, 70, dtype=torch.bool)
    spikes[0, [0, 63, 64, 69]] = True
    spikes[2, [5]] = True
    _, (start, idx) = events_native.bag_sum(spikes, torch.ones(70, 2))
    assert start.tolist() == [0, 4, 4, 5]
    assert idx[:5].tolist() == [0, 63, 64, 69, 5]
    grad = torch.tensor([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    d = events_native.bag_sum_transposed((start, idx), 70, grad)
    assert d[5].tolist() == [100.0, 200.0] and d[64].tolist() == [1.0, 2.0]
    assert float(d.abs().sum()) == 4 * 3 + 300  # rows of inputs that never fired are zero


def test_non_contiguous_spikes_and_table():
    g = torch.Generator().manual_seed(5)
    spikes = (torch.rand(90, 40, generator=g) < 0.2).t()  # [40, 90], a transposed view
    table = torch.randn(12, 90, generator=g).t()  # [90, 12], a view
    out, _ = events_native.bag_sum(spikes, table)
    assert torch.allclose(out, spikes.float() @ table, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (300, 64), (1000, 4097), (65, 10000)])
@pytest.mark.parametrize("threads", [1, 2])
def test_column_counts_equal_torch(shape, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(shape[0] * 31 + shape[1])
    x = torch.rand(shape, generator=g) < 0.3
    try:
        got = events_native.column_counts(x)
    finally:
        torch.set_num_threads(before)
    assert got.dtype == torch.int64 and torch.equal(got, x.sum(0))
    # non-contiguous input, and the fallback for other dtypes
    xt = (torch.rand(shape[::-1], generator=g) < 0.5).t()
    assert torch.equal(events_native.column_counts(xt), xt.sum(0))
    assert torch.equal(events_native.column_counts(x.float()), x.sum(0))
