"""``Record.predict`` reads out what the output layer's kind calls for (issue 14, item 3):
spike counts for a spiking layer (whether or not its potentials were recorded), the final
potential for a non-spiking integrator, and whatever the caller asks for explicitly."""

from __future__ import annotations

import pytest
import torch

from analysis import load_record, record
from snnsim.core.nodes import Integrator, LIFNeurons, layer_kind
from snnsim.core.spec import build_network
from snnsim.engine import ENGINES, Record, simulate
from snnsim.engine.evaluate import evaluate
from snnsim.errors import UserError
from snnsim.methods.fastsnn.nodes import PeakIntegrator

T, B = 10, 3


def two_neuron_net(out_type: str = "if"):  # type: ignore[no-untyped-def]
    """input [1] -> out [2] with weights (1.0, 0.3), threshold 1, reset to zero.

    Driven by a constant 1 every step, neuron 0 fires at every step (potential 0 after each
    reset) and neuron 1 fires every 4th step, ending at 0.6: the most spikes are neuron 0's,
    the highest final potential is neuron 1's. An integrator never spikes and ends at
    (10, 3): neuron 0 again."""
    spec = {
        "layers": [{"name": "input", "type": "input", "shape": [1]}, {"name": "out", "type": out_type}],
        "connections": [{"source": "input", "target": "out", "ops": [{"op": "linear", "out_features": 2}]}],
    }
    net = build_network(spec)
    with torch.no_grad():
        net.connections[("input", "out")].layers[0].weight.copy_(torch.tensor([[1.0], [0.3]]))
    return net


def drive() -> torch.Tensor:
    return torch.ones(T, B, 1, dtype=torch.bool)


@pytest.mark.parametrize("engine", ENGINES)
def test_spiking_output_reads_counts_even_with_potentials_recorded(engine: str) -> None:
    net = two_neuron_net()
    plain = simulate(net, drive(), engine=engine)
    with_v = simulate(net, drive(), engine=engine, record_voltage=True)
    # the construction: counts and final potentials disagree
    assert with_v.counts("out")[0].tolist() == [10, 2]
    assert with_v.voltages["out"][-1, 0].tolist() == pytest.approx([0.0, 0.6], abs=1e-6)
    assert plain.kinds["out"] == with_v.kinds["out"] == "spiking" and with_v.kinds["input"] == "input"
    assert plain.predict("out").tolist() == [0] * B
    assert with_v.predict("out").tolist() == [0] * B  # was [1, 1, 1]: the potential argmax
    assert with_v.predict("out", "voltage").tolist() == [1] * B  # explicit choices still work
    assert with_v.predict("out", "spikes").tolist() == [0] * B


def test_analysis_record_of_potentials_keeps_the_spike_readout() -> None:
    net = two_neuron_net()
    with record(net, variables=("s", "v")) as rec:
        simulate(net, drive())
        simulate(net, drive())
    assert "out" in rec.voltages and rec.batch_size == 2 * B
    assert rec.predict("out").tolist() == [0] * (2 * B)
    assert rec.freeze().predict("out").tolist() == [0] * (2 * B)
    assert rec.predict("out", "voltage").tolist() == [1] * (2 * B)


@pytest.mark.parametrize("engine", ENGINES)
def test_integrator_output_reads_the_potential(engine: str) -> None:
    net = two_neuron_net("integrator")
    with torch.no_grad():  # make the potential argmax neuron 1, which no spike count could tell
        net.connections[("input", "out")].layers[0].weight.copy_(torch.tensor([[0.2], [0.7]]))
    rec = simulate(net, drive(), engine=engine, record_voltage=["out"])
    assert rec.kinds["out"] == "integrator" and int(rec.spikes["out"].sum()) == 0
    assert rec.predict("out").tolist() == [1] * B
    assert rec.predict("out", "spikes").tolist() == [0] * B  # explicit: counts (all zero, ties to 0)
    bare = simulate(net, drive(), engine=engine)
    with pytest.raises(UserError, match="potential of layer 'out' was not recorded"):
        bare.predict("out")


def test_layer_kinds_follow_the_node_types() -> None:
    assert layer_kind(Integrator(2)) == "integrator"
    assert layer_kind(PeakIntegrator(2)) == "integrator"
    assert layer_kind(LIFNeurons(2)) == "spiking"
    from bindsnet.network.nodes import Input, LIFNodes

    assert layer_kind(Input(2)) == "input" and layer_kind(LIFNodes(2)) == "spiking"


def test_unknown_kind_needs_an_explicit_readout_and_bad_readouts_are_user_errors() -> None:
    rec = Record({"out": torch.tensor([[[True, False]], [[True, False]]])}, {"out": torch.tensor([[[0.0, 1.0]]] * 2)})
    with pytest.raises(UserError, match="pass readout='spikes' or readout='voltage'"):
        rec.predict("out")
    assert rec.predict("out", "spikes").tolist() == [0]
    assert rec.predict("out", "voltage").tolist() == [1]
    with pytest.raises(UserError, match="readout must be"):
        rec.predict("out", "max")


def test_kinds_survive_to_and_a_record_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rec = simulate(two_neuron_net(), drive(), record_voltage=True).to("cpu")
    assert rec.kinds == {"input": "input", "out": "spiking"}
    torch.save({"spikes": rec.spikes, "voltages": rec.voltages, "dt": rec.dt, "kinds": rec.kinds}, tmp_path / "r.pt")
    loaded, _ = load_record(tmp_path / "r.pt")
    assert loaded.kinds == rec.kinds and loaded.predict("out").tolist() == [0] * B


def test_evaluate_auto_readout_follows_the_kind() -> None:
    from snnsim.data.datasets import Split

    split = Split(torch.ones(4, 1, 1, 1), torch.zeros(4, dtype=torch.long))

    def encoder(x: torch.Tensor, t: int) -> torch.Tensor:  # [B, 1, 1, 1] -> bool [T, B, 1]
        return x.reshape(1, x.shape[0], 1).expand(t, -1, -1) > 0

    spiking = evaluate(two_neuron_net(), split, encoder, T, progress=False)
    assert spiking.readout == "spikes" and spiking.accuracy == 1.0
    integ = evaluate(two_neuron_net("integrator"), split, encoder, T, progress=False)
    assert integ.readout == "voltage" and integ.accuracy == 1.0  # potentials (10, 3): class 0


def test_readme_python_api_snippet_reads_spike_counts() -> None:
    """The README's snippet records ``out`` potentials and says predict is the argmax of
    output spike counts: run it as written and hold it to that."""
    from pathlib import Path

    text = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    block = text.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'record_voltage=["out"]' in block and "argmax of output spike counts" in block
    scope: dict = {}
    torch.manual_seed(0)
    exec(compile(block, "README.md", "exec"), scope)
    rec = scope["rec"]
    assert rec.kinds["out"] == "spiking" and "out" in rec.voltages
    assert torch.equal(rec.predict("out"), rec.counts("out").reshape(rec.batch_size, -1).argmax(1))
    assert torch.equal(rec.predict("out", "voltage"), rec.voltages["out"][-1].reshape(rec.batch_size, -1).argmax(1))


def test_plot_confusion_reads_a_silent_spiking_output_by_its_kind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``snnsim plot --kind confusion`` on a record.pt without report: a spiking output that
    stayed silent is read by spike counts (its kind), not by its recorded potential."""
    from analysis import load_run, save_record
    from snnsim.cli.plot import _confusion

    n = 2 * 10  # MIN_CONFUSION_SAMPLES_PER_CLASS (10) per class for 2 classes
    spikes = {"input": torch.zeros(T, n, 1, dtype=torch.bool), "out": torch.zeros(T, n, 2, dtype=torch.bool)}
    volts = {"out": torch.tensor([0.0, 0.5]).expand(T, n, 2).clone()}  # potential argmax: class 1
    rec = Record(spikes, volts, 1.0, {"input": "input", "out": "spiking"})
    save_record(tmp_path / "record.pt", rec, torch.zeros(n, dtype=torch.long))
    _, fig = _confusion(load_run(tmp_path), None)
    titles = [fig._suptitle.get_text() if fig._suptitle else ""] + [ax.get_title() for ax in fig.axes]
    assert any("(spikes read-out)" in t for t in titles), titles  # was the voltage read-out
