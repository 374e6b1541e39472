"""snnsim.native.narrow: the dense linear kernels for few output features against torch (within
float rounding), their row-by-row determinism, autograd, the dispatch and its switches."""

import pytest
import torch
from torch import nn

from snnsim.native import narrow

pytestmark = pytest.mark.skipif(narrow.native_status() != "loaded", reason=narrow.native_status())


def _data(n: int, k: int, m: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, k, generator=g) < 0.2).float() * torch.rand(n, k, generator=g)
    return x, torch.randn(m, k, generator=g), torch.randn(m, generator=g), torch.randn(n, m, generator=g)


@pytest.mark.parametrize("n,k,m", [(3200, 800, 10), (7, 33, 1), (129, 100, 3), (64, 17, 17), (5, 800, 32), (1, 8, 4)])
def test_kernels_agree_with_float64_matmuls(n, k, m):
    x, w, b, g = _data(n, k, m)
    xd, wd, gd = x.double(), w.double(), g.double()
    tol = dict(rtol=1e-5, atol=1e-4)
    assert torch.allclose(narrow.forward(x, w, b).double(), xd @ wd.t() + b.double(), **tol)
    assert torch.allclose(narrow.forward(x, w, None).double(), xd @ wd.t(), **tol)
    assert torch.allclose(narrow.grad_input(g, w).double(), gd @ wd, **tol)
    assert torch.allclose(narrow.grad_weight(g, x).double(), gd.t() @ xd, **tol)


def test_each_row_is_summed_alone_whatever_the_batch_or_threads():
    """The fast engine's [T * B, K] call and the step engine's [B, K] calls give the same bits."""
    x, w, b, g = _data(301, 800, 10, seed=1)
    whole = narrow.forward(x, w, b)
    assert torch.equal(torch.cat([narrow.forward(x[i : i + 7], w, b) for i in range(0, 301, 7)]), whole)
    assert torch.equal(
        torch.cat([narrow.grad_input(g[i : i + 5], w) for i in range(0, 301, 5)]), narrow.grad_input(g, w)
    )
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = (narrow.forward(x, w, b), narrow.grad_input(g, w), narrow.grad_weight(g, x))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one[0], whole) and torch.equal(one[1], narrow.grad_input(g, w))
    assert torch.equal(one[2], narrow.grad_weight(g, x))


def test_autograd_matches_nn_linear():
    torch.manual_seed(0)
    lin = nn.Linear(800, 10)
    x = (torch.rand(400, 800) < 0.15).float().requires_grad_()
    assert narrow.usable(x, lin)
    out = narrow.narrow_linear(x, lin)
    (out * torch.linspace(-1, 1, 10)).sum().backward()
    grads = (x.grad.clone(), lin.weight.grad.clone(), lin.bias.grad.clone())
    x.grad, lin.weight.grad, lin.bias.grad = None, None, None
    ref = lin(x)
    (ref * torch.linspace(-1, 1, 10)).sum().backward()
    assert torch.allclose(out, ref, atol=1e-5)
    for got, want in zip(grads, (x.grad, lin.weight.grad, lin.bias.grad)):
        assert torch.allclose(got, want, atol=1e-4)
    lin.weight.requires_grad_(False)  # only the input's gradient
    x.grad = None
    narrow.narrow_linear(x, lin).sum().backward()
    assert torch.allclose(x.grad, lin.weight.sum(0).expand(400, 800), atol=1e-5)
    with torch.no_grad():
        assert not narrow.narrow_linear(x, lin).requires_grad


def test_dispatch_refuses_what_the_kernels_do_not_take(monkeypatch):
    x = torch.rand(400, 800)
    assert narrow.usable(x, nn.Linear(800, 32))
    assert not narrow.usable(x, nn.Linear(800, 33))  # too many outputs: MKL's sgemm is fine there
    assert not narrow.usable(x[:10], nn.Linear(800, 10))  # too small to pay for the call
    assert not narrow.usable(x.double(), nn.Linear(800, 10).double())
    assert not narrow.usable(x.reshape(400, 20, 40), nn.Linear(40, 10))
    monkeypatch.setenv("SNNSIM_NARROW_LINEAR", "0")
    assert not narrow.usable(x, nn.Linear(800, 10))
    assert narrow.native_status() == "disabled by SNNSIM_NARROW_LINEAR=0"


def test_a_training_step_through_a_connection_matches_the_torch_path(monkeypatch):
    """An output layer fed by float spikes (the hidden layer's, with autograd) takes the kernels;
    with them switched off the same step runs through nn.Linear: equal within rounding."""
    from bindsnet.network.nodes import LIFNodes

    from snnsim.core.connections import ModuleConnection

    def step():
        torch.manual_seed(0)
        conn = ModuleConnection(LIFNodes(n=800), LIFNodes(n=10), ops=[{"op": "linear", "out_features": 10}])
        s = (torch.rand(20, 64, 800) < 0.2).float().requires_grad_()
        out = conn.compute_multi(s)
        (out * torch.linspace(0, 1, 10)).sum().backward()
        return out.detach(), s.grad, conn.layers[0].weight.grad

    fast = step()
    monkeypatch.setenv("SNNSIM_NARROW_LINEAR", "0")
    plain = step()
    for a, b in zip(fast, plain):
        assert torch.allclose(a, b, atol=1e-4)
