"""Tests for the ``encoders`` package: shapes, statistics, exact spike times, errors."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import encoders
from encoders import ENCODERS, bernoulli, constant_current, first_spike_times, get_encoder, latency, poisson, rank_order

SPIKE_ENCODERS = ["poisson", "bernoulli", "latency", "rank_order"]
SHAPES = [(3, 7), (2, 1, 4, 5)]  # [B, N] and [B, C, H, W]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", SPIKE_ENCODERS)
def test_spike_encoders_shape_dtype_device(name: str, shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=_gen(0))
    out = get_encoder(name)(x, 6)
    assert out.shape == (6, *shape)
    assert out.dtype == torch.bool
    assert out.device == x.device


@pytest.mark.parametrize("shape", SHAPES)
def test_constant_current_repeats_input(shape: tuple[int, ...]) -> None:
    x = torch.randn(shape, generator=_gen(1), dtype=torch.float64) * 3  # any range
    out = constant_current(x, 5, scale=2.0)
    assert out.shape == (5, *shape)
    assert out.dtype == torch.float32
    assert out.is_contiguous()
    for t in range(5):
        torch.testing.assert_close(out[t], (2.0 * x).float())
    # The result owns its memory: writing to one step leaves the others and x alone.
    x_before = x.clone()
    out[0].fill_(123.0)
    torch.testing.assert_close(out[1], (2.0 * x).float())
    assert torch.equal(x, x_before)


def test_registry_names_and_binding() -> None:
    assert set(ENCODERS.known()) == {
        "poisson",
        "bernoulli",
        "current",
        "latency",
        "rank_order",
        "log_latency",
        "rows",
        "events",
    }  # known(): log_latency loads lazily
    x = torch.full((2, 3), 0.4)
    enc = get_encoder("poisson", max_rate=100.0, dt=1.0, generator=_gen(5))
    assert torch.equal(enc(x, 20), poisson(x, 20, max_rate=100.0, generator=_gen(5)))
    torch.testing.assert_close(get_encoder("current", scale=3.0)(x, 2)[1], 3.0 * x)
    assert set(encoders.__all__) >= {"poisson", "get_encoder", "first_spike_times"}


# ---------------------------------------------------------------- rate statistics


def test_poisson_empirical_rate_matches_probability() -> None:
    p, t, b, n = 0.3, 200, 50, 100
    x = torch.full((b, n), p)
    rate = poisson(x, t, prob_scale=1.0, generator=_gen(0)).double().mean().item()
    se = math.sqrt(p * (1 - p) / (t * b * n))
    assert abs(rate - p) < 4 * se


def test_poisson_max_rate_sets_probability_per_step() -> None:
    # 100 Hz at dt = 1 ms -> p = 0.1 * x per step.
    x = torch.tensor([[1.0, 0.5]]).expand(400, 2)
    out = poisson(x, 250, max_rate=100.0, dt=1.0, generator=_gen(2)).double()
    rate = out.mean(dim=(0, 1))
    for got, want in zip(rate.tolist(), [0.1, 0.05]):
        se = math.sqrt(want * (1 - want) / (250 * 400))
        assert abs(got - want) < 4 * se
    # dt scales the probability: 100 Hz at 5 ms equals prob_scale 0.5 exactly.
    a = poisson(x, 30, max_rate=100.0, dt=5.0, generator=_gen(3))
    b = bernoulli(x, 30, prob_scale=0.5, generator=_gen(3))
    assert torch.equal(a, b)


def test_bernoulli_half_probability_lee2020() -> None:
    x = torch.full((100, 100), 0.8)
    rate = bernoulli(x, 100, prob_scale=0.5, generator=_gen(4)).double().mean().item()
    assert abs(rate - 0.4) < 4 * math.sqrt(0.4 * 0.6 / 1e6)


def test_rate_extremes_are_deterministic() -> None:
    zeros, ones = torch.zeros(16, 32), torch.ones(16, 32)
    for enc in (poisson, bernoulli):
        assert not enc(zeros, 100, prob_scale=1.0).any()
        assert enc(ones, 100, prob_scale=1.0).all()
    assert not poisson(zeros, 100, max_rate=1000.0).any()
    assert poisson(ones, 100, max_rate=1000.0, dt=1.0).all()


# ------------------------------------------------------- determinism / no mutation


@pytest.mark.parametrize("name", ["poisson", "bernoulli"])
def test_seeded_generator_reproducible(name: str) -> None:
    x = torch.rand(4, 1, 6, 6, generator=_gen(9))
    enc = ENCODERS[name]
    a = enc(x, 30, generator=_gen(123))
    b = enc(x, 30, generator=_gen(123))
    c = enc(x, 30, generator=_gen(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_input_not_modified(name: str, dtype: torch.dtype) -> None:
    x = torch.rand(3, 2, 4, 4, generator=_gen(7), dtype=dtype)
    x[0, 0, 0, :2] = 0.0
    x[1, 0, 0, :2] = 1.0
    before = x.clone()
    # rows: one step per image row; events: at most the bins of the frames [B, T, ...]
    ENCODERS[name](x, {"rows": x.shape[2], "events": x.shape[1]}.get(name, 9))
    assert torch.equal(x, before)
    assert x.dtype == dtype


# ---------------------------------------------------------------------- latency


def test_latency_exact_spike_steps() -> None:
    x = torch.tensor([[1.0, 0.5, 0.0, 0.9, 0.25]])
    out = latency(x, 11)
    times = first_spike_times(out)
    assert times.tolist() == [[0.0, 5.0, math.inf, 1.0, 8.0]]
    assert out.sum(dim=0).tolist() == [[1, 1, 0, 1, 1]]
    # zero_spikes: x = 0 fires at the last step of the window.
    assert first_spike_times(latency(x, 11, zero_spikes=True))[0, 2].item() == 10.0
    # A shorter window compresses spikes into the first `window` steps.
    short = latency(x, 11, window=5, zero_spikes=True)
    assert first_spike_times(short).tolist() == [[0.0, 2.0, 4.0, 0.0, 3.0]]
    assert not short[5:].any()


def test_latency_larger_inputs_fire_no_later() -> None:
    x = torch.linspace(0.01, 1.0, 50).unsqueeze(0)
    times = first_spike_times(latency(x, 20))[0]
    assert torch.all(times[1:] <= times[:-1])
    assert torch.isfinite(times).all()


def test_first_spike_times_round_trip() -> None:
    t = 7
    steps = torch.tensor([[0, 3, -1], [6, -1, 2]])  # -1 = silent
    spikes = torch.zeros(t, 2, 3, dtype=torch.bool)
    for idx, s in np.ndenumerate(steps.numpy()):
        if s >= 0:
            spikes[(int(s), *idx)] = True
            spikes[(t - 1, *idx)] = True  # a later spike must not matter
    got = first_spike_times(spikes)
    want = torch.where(steps >= 0, steps.float(), torch.tensor(math.inf))
    assert got.dtype == torch.float32
    assert torch.equal(got, want)
    # Round trip through latency on a grid of exactly representable values.
    x = torch.tensor([[0.0, 0.25, 0.5, 0.75, 1.0]])
    assert first_spike_times(latency(x, 5)).tolist() == [[math.inf, 3.0, 2.0, 1.0, 0.0]]


# ------------------------------------------------------------------- rank order


def test_rank_order_follows_decreasing_intensity() -> None:
    x = torch.tensor([[0.2, 0.9, 0.0, 0.5, 0.9], [0.0, 0.0, 0.3, 0.0, 0.0]])
    out = rank_order(x, 10)
    times = first_spike_times(out)
    # Sample 0: order 0.9(i1), 0.9(i4, tie -> later index), 0.5, 0.2 with n = 4:
    # steps floor(k * 10 / 4) = 0, 2, 5, 7.
    assert times[0].tolist() == [7.0, 0.0, math.inf, 5.0, 2.0]
    assert times[1].tolist() == [math.inf, math.inf, 0.0, math.inf, math.inf]
    assert out.sum(dim=0).tolist() == [[1, 1, 0, 1, 1], [0, 0, 1, 0, 0]]


def test_rank_order_flattens_non_batch_dims_and_shares_steps() -> None:
    x = torch.tensor([[[0.1, 0.2], [0.3, 0.4]]])  # [1, 2, 2]; n = 4 > T = 2
    times = first_spike_times(rank_order(x, 2))
    assert times.tolist() == [[[1.0, 1.0], [0.0, 0.0]]]
    assert not rank_order(torch.zeros(2, 3), 4).any()


# -------------------------------------------------------------------- bad input


X = torch.rand(2, 3)
U8 = torch.ones(2, 3, dtype=torch.uint8)
BAD_CASES = [
    # (id, call, exception, message regex)
    ("nan", lambda: poisson(torch.tensor([[0.5, math.nan]]), 5), ValueError, "NaN"),
    ("inf", lambda: constant_current(torch.tensor([[math.inf]]), 5), ValueError, "finite"),
    ("above_one", lambda: poisson(torch.tensor([[1.5]]), 5), ValueError, r"\[0, 1\].*max=1\.5"),
    ("below_zero", lambda: latency(torch.tensor([[-0.1]]), 5), ValueError, r"min=-0\.1"),
    ("rank_above_one", lambda: rank_order(torch.tensor([[2.0]]), 5), ValueError, r"\[0, 1\]"),
    ("integer_dtype", lambda: poisson(U8, 5), TypeError, r"floating-point.*x\.float\(\) / 255"),
    ("bool_dtype", lambda: latency(U8.bool(), 5), TypeError, "torch.bool"),
    ("list_input", lambda: poisson([[0.1, 0.2]], 5), TypeError, "torch.Tensor, got list"),
    ("numpy_input", lambda: constant_current(np.zeros((2, 3)), 5), TypeError, "Tensor.*ndarray"),
    ("zero_dim", lambda: poisson(torch.tensor(0.5), 5), ValueError, "at least 1 dimension"),
    ("timesteps_zero", lambda: poisson(X, 0), ValueError, "timesteps must be an int >= 1, got 0"),
    ("timesteps_negative", lambda: rank_order(X, -3), ValueError, "got -3"),
    ("timesteps_float", lambda: latency(X, 10.0), TypeError, "timesteps must be an int.*float"),
    ("timesteps_bool", lambda: constant_current(X, True), TypeError, "got bool"),
    ("generator_type", lambda: poisson(X, 5, generator=42), TypeError, "Generator, got int"),
    (
        "both_rates",
        lambda: poisson(X, 5, max_rate=100.0, prob_scale=0.5),
        ValueError,
        "at most one of max_rate",
    ),
    (
        "rate_too_high",
        lambda: poisson(X, 5, max_rate=2000.0, dt=1.0),
        ValueError,
        r"max_rate \* dt / 1000.*must be <= 1",
    ),
    ("prob_too_high", lambda: bernoulli(X, 5, prob_scale=1.5), ValueError, r"\[0, 1\], got 1\.5"),
    ("dt_without_rate", lambda: poisson(X, 5, dt=0.5), ValueError, "together with max_rate"),
    (
        "unknown_encoder",
        lambda: get_encoder("possion"),
        ValueError,
        "unknown encoder 'possion'.*poisson.*rank_order",
    ),
    ("unknown_param", lambda: get_encoder("latency", max_rate=10.0), TypeError, "'max_rate'"),
    ("window_too_large", lambda: latency(X, 5, window=6), ValueError, "window must be <= "),
    ("window_zero", lambda: latency(X, 5, window=0), ValueError, "window must be an int >= 1"),
    (
        "current_overflow",
        lambda: constant_current(torch.tensor([[1e30]], dtype=torch.float64), 2, scale=1e30),
        ValueError,
        "not finite",
    ),
]


@pytest.mark.parametrize("make,exc,match", [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_input_raises(make: Callable[[], object], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=_CUDA)])
def test_cuda_output_stays_on_device(device: str) -> None:
    """Every encoder returns its spikes on the input's device (run on the CPU too, so that the
    calls themselves are checked where there is no GPU)."""
    x = torch.rand(2, 3, 4, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    for name, enc in ENCODERS.items():
        kwargs = {"generator": g} if name in ("poisson", "bernoulli") else {}
        if name == "rows":  # one step per image row: T is the height
            assert enc(x.unsqueeze(1), x.shape[1]).device == x.device
            continue
        if name == "events":  # binned frames [B, T, ...]
            assert enc(x.unsqueeze(1), 1).device == x.device
            continue
        assert enc(x, 5, **kwargs).device == x.device, name
    if device == "cuda":
        with pytest.raises(ValueError, match="generator is on device cpu"):
            poisson(x, 5, generator=_gen(0))


# -------------------------------------------------------------- property based


@st.composite
def _inputs(draw: st.DrawFn) -> torch.Tensor:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    n = math.prod(shape)
    special = st.sampled_from([0.0, 0.5, 1.0])
    values = draw(
        st.lists(
            st.one_of(special, st.floats(0.0, 1.0, allow_nan=False, width=32)),
            min_size=n,
            max_size=n,
        )
    )
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


@settings(max_examples=60, deadline=None)
@given(x=_inputs(), timesteps=st.integers(1, 12), seed=st.integers(0, 2**31 - 1))
def test_property_shapes_and_single_spikes(x: torch.Tensor, timesteps: int, seed: int) -> None:
    before = x.clone()
    for name, enc in ENCODERS.items():
        if name in ("rows", "events"):  # rows: [H, B, C*W] (tests/methods/fastsnn/test_smnist.py); events below
            continue
        kwargs = {"generator": _gen(seed)} if name in ("poisson", "bernoulli") else {}
        out = enc(x, timesteps, **kwargs)
        assert out.shape == (timesteps, *x.shape), name
        if name == "current":
            assert out.dtype == torch.float32
            assert torch.equal(out, x.expand(timesteps, *x.shape))
        else:
            assert out.dtype == torch.bool, name
    for enc in (latency, rank_order):
        counts = enc(x, timesteps).sum(dim=0)
        assert torch.equal(counts, (x > 0).long()), enc.__name__
    assert torch.equal(x, before)


def test_latency_codes_share_one_spike_map():
    """latency and log_latency are one_spike_at of their own step maps."""
    from encoders.temporal import latency, one_spike_at
    from snnsim.methods.fastsnn.encoding import log_latency, log_latency_times

    x = torch.tensor([[0.0, 0.1, 0.25, 0.5, 0.9, 1.0]])
    t = 12
    steps = torch.floor(log_latency_times(x, tau=5.0, theta=0.2))
    fire = steps < t
    expected = one_spike_at(torch.where(fire, steps, torch.zeros_like(steps)).long(), fire, t)
    assert torch.equal(log_latency(x, t, tau=5.0, theta=0.2), expected)
    assert expected.sum() == 4 and expected[:, 0, :2].sum() == 0
    lin = torch.round((1 - x) * (t - 1)).long()
    assert torch.equal(latency(x, t), one_spike_at(lin, x > 0, t))


@pytest.mark.parametrize("dtype", [torch.bool, torch.float32])
def test_events_passes_binned_frames_through_time_major(dtype: torch.dtype) -> None:
    frames = (torch.rand(3, 6, 2, 5, 5, generator=_gen(3)) < 0.3).to(dtype)  # [B, T, *sensor]
    out = ENCODERS["events"](frames, 4)
    assert out.shape == (4, 3, 2, 5, 5) and out.dtype == dtype and out.is_contiguous()
    for t in range(4):
        assert torch.equal(out[t], frames[:, t])
    assert torch.equal(ENCODERS["events"](frames), frames.transpose(0, 1))  # all bins
    with pytest.raises(ValueError, match="timesteps must be in"):
        ENCODERS["events"](frames, 7)  # more steps than bins
    with pytest.raises(ValueError, match=r"\[B, T, \*sensor\]"):
        ENCODERS["events"](torch.zeros(3, 4), 2)
    with pytest.raises(TypeError):
        ENCODERS["events"](np.zeros((2, 3, 4)), 2)
