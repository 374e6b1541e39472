"""snnsim.engine.cuda_graph.Graphed: the bookkeeping around capture (signatures, warm-up calls,
static buffers, cloned outputs, fall-back to eager) checked on the CPU with a recording backend
that replays by recomputing into the captured output buffers; the real CUDA capture of a
training step and a forward pass is checked in tests/engine/test_cuda.py."""

from __future__ import annotations

import warnings

import pytest
import torch

from snnsim.engine.cuda_graph import Graphed, graphs_enabled


class Recording:
    """A backend that counts warm-ups and captures; its 'graph' recomputes ``fn`` on the static
    inputs and writes the result into the output tensors made at capture, as a replay would."""

    def __init__(self, fail: bool = False) -> None:
        self.warmed, self.captured, self.fail = 0, [], fail

    def warm(self, fn, args):
        self.warmed += 1
        return fn(*args)

    def capture(self, fn, static):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing\nmore")
        self.captured.append(static)
        out = fn(*static)

        def replay() -> None:
            out.copy_(fn(*static))

        return replay, out


def f(x: torch.Tensor, y: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    return x * scale + y


def test_replays_follow_new_input_values_after_warm_up():
    rec = Recording()
    g = Graphed(f, warmup=2, backend=rec)
    for i in range(6):
        x, y = torch.full((3, 4), float(i)), torch.arange(4.0)
        assert torch.equal(g(x, y), f(x, y))
    assert rec.warmed == 2 and len(rec.captured) == 1 and g.graphs == 1


def test_each_signature_is_captured_once_up_to_max_graphs():
    rec = Recording()
    g = Graphed(f, warmup=1, max_graphs=2, backend=rec)
    shapes = [(2, 3), (5, 3), (7, 3)]
    for _ in range(3):
        for s in shapes:
            x = torch.randn(s)
            assert torch.equal(g(x, x), f(x, x))
    assert g.graphs == 2 and len(rec.captured) == 2  # the third shape runs eagerly
    assert rec.warmed == 2


def test_other_values_of_plain_arguments_are_other_signatures():
    rec = Recording()
    g = Graphed(f, warmup=1, backend=rec)
    x = torch.randn(4)
    for scale in (2.0, 3.0, 2.0, 3.0):
        assert torch.equal(g(x, x, scale), f(x, x, scale))
    assert g.graphs == 2
    h = Graphed(lambda t, opts: t * opts[0], warmup=1, backend=rec)
    for _ in range(3):  # an unhashable plain argument: eager, no signature kept
        assert torch.equal(h(x, [3.0]), x * 3.0)
    assert h.graphs == 0


def test_outputs_are_cloned_unless_asked_not_to():
    x = torch.ones(3)
    g = Graphed(f, warmup=1, backend=Recording())
    g(x, x)
    a, b = g(x, x), g(x, x)
    assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    raw = Graphed(f, warmup=1, clone=False, backend=Recording())
    raw(x, x)
    a = raw(x, x)
    b = raw(2 * x, x)
    assert a is b and torch.equal(a, f(2 * x, x))  # the graph's own buffer, overwritten


def test_a_function_that_cannot_be_captured_warns_once_and_runs_eagerly():
    rec = Recording(fail=True)
    g = Graphed(f, warmup=1, backend=rec)
    x = torch.randn(5)
    g(x, x)
    with pytest.warns(RuntimeWarning, match="could not be captured.*operation not permitted"):
        assert torch.equal(g(x, x), f(x, x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            assert torch.equal(g(x + 1, x), f(x + 1, x))
    assert g.graphs == 0


def test_cpu_tensors_run_as_they_are_and_the_switch_turns_cuda_off(monkeypatch):
    calls = []
    g = Graphed(lambda x: calls.append(1) or x + 1)
    for _ in range(5):
        g(torch.zeros(2))
    assert len(calls) == 5 and g.graphs == 0
    assert not graphs_enabled(torch.device("cpu"))
    assert graphs_enabled(torch.device("cuda"))
    monkeypatch.setenv("SNNSIM_CUDA_GRAPHS", "0")
    assert not graphs_enabled(torch.device("cuda"))


def test_warm_up_of_zero_is_refused():
    with pytest.raises(ValueError, match="warmup must be at least 1"):
        Graphed(f, warmup=0)
