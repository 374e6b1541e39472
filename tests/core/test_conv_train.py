"""Issue 29's conv training paths agree with the plain torch path: the event-driven conv with its
weight gradient (snnsim.core.event_conv), channels-last connections (snnsim.core.layout) and the
LIF kernels on channels-last tensors (snnsim.native.lif)."""

import pytest
import torch
import torch.nn.functional as F

import networks
from snnsim.core import autograd, event_conv, layout
from snnsim.core.dynamics import NeuronParams
from snnsim.core.surrogate import ArcTan
from snnsim.engine import forward
from snnsim.native import event_conv as native_conv
from snnsim.native import lif as lif_native
from snnsim.native import strides

needs_conv = pytest.mark.skipif(native_conv.native_status() != "loaded", reason="no C compiler")
needs_lif = pytest.mark.skipif(lif_native.native_status() != "loaded", reason="no C compiler")

# (N, H, W, O, K, stride, padding): LeNet's conv1, a strided padded one, more outputs than a vector
SHAPES = [(6, 28, 28, 20, 5, 1, 0), (3, 9, 11, 5, 3, 2, 1), (2, 8, 8, 40, 3, 1, 2)]


@needs_conv
@pytest.mark.parametrize("channels_last", ["1", "0"])
@pytest.mark.parametrize("shape", SHAPES)
def test_event_conv_trainable_matches_conv2d(shape, channels_last, monkeypatch):
    monkeypatch.setenv("SNNSIM_CHANNELS_LAST", channels_last)
    n, h, w, o, k, s, p = shape
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.rand(n, 1, h, w, generator=g) < 0.2
    conv = torch.nn.Conv2d(1, o, k, s, p, bias=True)
    out = event_conv.event_conv_trainable(x, conv)
    ref = conv(x.float())
    grad = torch.randn(ref.shape, generator=g)
    gw, gb = torch.autograd.grad(out, [conv.weight, conv.bias], grad)
    rw, rb = torch.autograd.grad(ref, [conv.weight, conv.bias], grad)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gw, rw, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gb, rb, rtol=1e-5, atol=1e-4)
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last == "1" else torch.contiguous_format)


@needs_conv
def test_weight_gradient_reads_both_gradient_layouts_and_float_inputs():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(4, 3, 10, 10, generator=g) < 0.3) * torch.rand(4, 3, 10, 10, generator=g)
    grad = torch.randn(4, 7, 5, 5, generator=g)
    conv = torch.nn.Conv2d(3, 7, 3, 2, 1, bias=False)
    native_conv.usable(x, conv.weight, None)  # loads the library
    ref = torch.autograd.grad(conv(x), conv.weight, grad)[0]
    for gr in (grad, grad.contiguous(memory_format=torch.channels_last)):
        torch.testing.assert_close(native_conv.event_conv2d_wgrad(x, gr, 3, 2, 1), ref, rtol=1e-5, atol=1e-5)


@needs_conv
def test_trainable_path_only_for_sparse_one_channel_inputs_without_gradient(monkeypatch):
    conv1, conv3 = torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(3, 4, 3)
    sparse = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    sparse[0, 0, 1, 1] = True
    assert event_conv.trainable_usable(sparse, conv1)
    monkeypatch.setenv("SNNSIM_DIRECT_CONV", "0")  # dense 1-channel inputs: the direct kernel, else MKLDNN
    assert not event_conv.trainable_usable(torch.ones(2, 1, 8, 8, dtype=torch.bool), conv1)  # above the crossover
    monkeypatch.delenv("SNNSIM_DIRECT_CONV")
    assert not event_conv.trainable_usable(sparse.expand(2, 3, 8, 8), conv3)  # multi-channel: dense
    assert not event_conv.trainable_usable(sparse.float(), conv1)  # float input (may need a gradient)
    monkeypatch.setenv("SNNSIM_EVENT_CONV_TRAIN", "0")
    assert not event_conv.trainable_usable(sparse, conv1)


# (N, C, H, W, O, K, stride, padding): LeNet's conv2, a strided padded one with 64 channels
GRAD_SHAPES = [(4, 20, 12, 12, 50, 5, 1, 0), (3, 64, 9, 9, 70, 3, 2, 1)]


@needs_conv
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("shape", GRAD_SHAPES)
def test_event_conv_with_input_gradient_matches_conv2d(shape, channels_last):
    """Hidden (pooled) spikes that need a gradient: event-driven forward and weight gradient,
    dense input gradient, all within float rounding of the plain conv, in both input layouts."""
    n, c, h, w, o, k, s, p = shape
    g = torch.Generator().manual_seed(sum(shape))
    x = (torch.rand(n, c, h, w, generator=g) < 0.08) * torch.randint(1, 5, (n, c, h, w), generator=g) / 4.0
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    conv = torch.nn.Conv2d(c, o, k, s, p, bias=True)
    assert event_conv.trainable_usable(x, conv)
    out = event_conv.event_conv_trainable(x, conv)
    ref = conv(x)
    grad = torch.randn(ref.shape, generator=g)
    got = torch.autograd.grad(out, [x, conv.weight, conv.bias], grad)
    want = torch.autograd.grad(ref, [x, conv.weight, conv.bias], grad)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@needs_conv
def test_input_gradient_path_only_for_sparse_multichannel_float_inputs(monkeypatch):
    conv, conv1x1, narrow = torch.nn.Conv2d(20, 8, 3), torch.nn.Conv2d(20, 8, 1), torch.nn.Conv2d(8, 8, 3)
    sparse = torch.zeros(2, 20, 8, 8)
    sparse[0, 3, 1, 1] = 0.25
    assert event_conv.trainable_usable(sparse.requires_grad_(True), conv)
    assert not event_conv.trainable_usable(torch.ones(2, 20, 8, 8), conv)  # above the crossover
    assert not event_conv.trainable_usable(sparse, conv1x1)  # a 1x1 conv is faster dense
    assert not event_conv.trainable_usable(sparse[:, :8], narrow)  # too few channels
    assert not event_conv.trainable_usable(sparse.double(), conv.double())  # float32 only
    monkeypatch.setenv("SNNSIM_EVENT_CONV_TRAIN", "0")
    assert not event_conv.trainable_usable(sparse, conv)


@needs_conv
def test_native_count_nonzero_matches_torch():
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(3, 6, 5, 7, generator=g) < 0.2).float()
    x[0, 0, 0, :3] = torch.tensor([-0.0, float("nan"), 0.5])
    cl = x.contiguous(memory_format=torch.channels_last)
    for t in (x, cl, x[:, :, ::2], x > 0, x.double()):
        assert native_conv.count_nonzero(t) == int(torch.count_nonzero(t))


def test_step_dense_and_like_layout():
    x = torch.randn(3, 2, 4, 5, 6)
    cl = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (3, 2))
    assert strides.step_dense(x) and strides.step_dense(cl)
    assert not strides.step_dense(x.transpose(0, 1)) and not strides.step_dense(x[:, :, :, ::2])
    y = strides.like_layout(x, cl)
    assert y.stride() == cl.stride() and torch.equal(y, x)
    assert strides.like_layout(cl, cl) is cl


def test_prefer_channels_last_only_while_training(monkeypatch):
    x, conv = torch.randn(2, 3, 5, 5), torch.nn.Conv2d(3, 3, 1)
    assert layout.prefer_channels_last(x, conv, True).is_contiguous(memory_format=torch.channels_last)
    assert layout.prefer_channels_last(x, conv, False) is x
    assert layout.prefer_channels_last(x, torch.nn.Linear(3, 3), True) is x
    spikes = torch.rand(2, 3, 5, 5) < 0.3  # a stem's bool input: cast to the conv's dtype, channels-last
    cast = layout.prefer_channels_last(spikes, conv.double(), True)
    assert cast.dtype == torch.float64 and cast.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cast, spikes.double())
    one = spikes[:, :1]  # 1-channel spikes stay bool (the event-driven and direct kernels read them)
    assert layout.prefer_channels_last(one, torch.nn.Conv2d(1, 3, 1), True) is one
    assert layout.prefer_channels_last(spikes, torch.nn.AvgPool2d(2), True) is spikes
    monkeypatch.setenv("SNNSIM_CHANNELS_LAST", "0")
    assert layout.prefer_channels_last(x, conv, True) is x
    assert layout.prefer_channels_last(spikes, conv, True) is spikes


@needs_lif
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_lif_kernels_on_channels_last_match_contiguous(reset):
    p = NeuronParams(1.0, 0.9, reset, 0.0, 0, True, None)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 2, 6, 4, 4, generator=g)
    cl = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (5, 2))
    scalars = autograd._scalars(p)
    s, v, pre = lif_native.lif_forward(x, *scalars)
    s_cl, v_cl, pre_cl = lif_native.lif_forward(cl, *scalars)
    assert pre_cl.stride() == cl.stride()  # no copy into the contiguous layout
    for a, b in ((s, s_cl), (v, v_cl), (pre, pre_cl)):
        assert torch.equal(a, b)  # the same float operations per element
    gs, gv = torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g)
    ref = lif_native.lif_backward(pre, gs, gv, *scalars, False, ArcTan(2.0).kernel())
    gv_cl = gv.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (5, 2))
    out = lif_native.lif_backward(pre_cl, gs, gv_cl, *scalars, False, ArcTan(2.0).kernel())
    assert out.stride() == cl.stride() and torch.equal(out, ref)


def _grads(net, x, y, env, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    net.zero_grad(set_to_none=True)
    rec = forward(net, x, record_voltage=list(net.layers)[1:])
    read = (
        rec.voltages["out"][-1]
        if "out" not in rec.spikes or rec.kinds.get("out") == "integrator"
        else rec.spikes["out"].sum(0)
    )
    F.cross_entropy(read, y).backward()
    return rec, {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name,density", [("lenet", 0.13), ("lenet", 0.3), ("resnet19", 0.2)])
def test_fast_paths_agree_with_the_plain_torch_path(name, density, monkeypatch):
    """A whole BPTT step: the same spikes in every layer and gradients within float rounding
    with the event-driven convs (the dense direct conv1 at d = 0.3), channels-last and the
    one-pass pooling gradient on as with all off."""
    torch.manual_seed(0)
    if name == "lenet":
        net = networks.lenet(neuron="lif", leak=0.9, reset="subtract")
        x = torch.rand(4, 3, 1, 28, 28) < density
    else:
        net = networks.resnet19(input_shape=(1, 12, 12), width=0.0625, fc_hidden=16)
        x = torch.rand(3, 2, 1, 12, 12) < density
    for layer in list(net.layers.values())[1:]:
        layer.surrogate = ArcTan(2.0)
    y = torch.tensor([1, 7, 3])[: x.shape[1]]
    calls = []
    apply = event_conv._EventConv.apply
    monkeypatch.setattr(
        event_conv._EventConv, "apply", lambda x, *a: calls.append((x.requires_grad, a[-1])) or apply(x, *a)
    )
    on, off = ({k: v for k in ("SNNSIM_CHANNELS_LAST", "SNNSIM_EVENT_CONV_TRAIN", "SNNSIM_FUSED_POOL")} for v in "10")
    fast, g_fast = _grads(net, x, y, on, monkeypatch)
    if name == "lenet":  # conv1 (input spikes; direct above the crossover) and conv2 (pooled hidden spikes)
        direct = tuple(density >= c for c in event_conv.DIRECT_CROSSOVER)
        assert calls == [(False, direct), (True, (False, False))]
    plain, g_plain = _grads(net, x, y, off, monkeypatch)
    assert any(float(s.detach().float().mean()) > 0 for n, s in plain.spikes.items() if n != "input")
    for n in plain.spikes:
        assert torch.equal(fast.spikes[n].bool(), plain.spikes[n].bool()), n
    assert g_fast.keys() == g_plain.keys() and g_plain
    for n, g in g_plain.items():
        torch.testing.assert_close(g_fast[n], g, rtol=1e-4, atol=1e-4 * max(1.0, float(g.abs().max())), msg=n)
