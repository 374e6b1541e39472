"""ReLU ANNs of the conversion papers: shapes, initialisation, training, save/load."""

import warnings

import pytest
import torch
from torch import nn

from snnsim.cli import main
from snnsim.data.datasets import Split
from snnsim.training.ann import ANNS, ann_accuracy, ann_fc, ann_lenet, ann_scnn, load_ann, save_ann, train_ann


@pytest.mark.parametrize("name", sorted(ANNS))
def test_builders_follow_diehl(name):
    model = ANNS[name]()
    x = torch.rand(3, 1, 28, 28)
    model.eval()
    y = model(x)
    assert y.shape == (3, 10)
    assert (y >= 0).all()  # ReLU at the output too
    assert isinstance(list(model.children())[-1], nn.ReLU)
    weighted = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert all(m.bias is None for m in weighted)
    assert all(m.weight.abs().max().item() <= 0.1 + 1e-7 for m in weighted)  # U[-0.1, 0.1] up to float32 rounding
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in model.modules())


def test_architectures():
    fc = [m.out_features for m in ann_fc().modules() if isinstance(m, nn.Linear)]
    assert fc == [1200, 1200, 10]
    scnn = [m for m in ann_scnn().modules() if isinstance(m, (nn.Conv2d, nn.AvgPool2d, nn.Linear))]
    assert [type(m).__name__ for m in scnn] == ["Conv2d", "AvgPool2d", "Conv2d", "AvgPool2d", "Linear"]
    assert [m.out_channels for m in scnn if isinstance(m, nn.Conv2d)] == [12, 64]
    lenet = [m for m in ann_lenet().modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [getattr(m, "out_channels", getattr(m, "out_features", None)) for m in lenet] == [20, 50, 200, 10]
    with pytest.raises(ValueError, match="input_shape"):
        ann_scnn(input_shape=(784,))
    with pytest.raises(ValueError, match="dropout"):
        ann_fc(dropout=1.5)


def test_train_save_load(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 8, 8, generator=g)
    y = (x.flatten(1)[:, :32].sum(1) > x.flatten(1)[:, 32:].sum(1)).long()
    split = Split(x, y)
    model = ann_fc(input_shape=(1, 8, 8), n_classes=2, hidden=(32,), dropout=0.0)
    hist = train_ann(model, split, epochs=3, lr=3e-3, batch_size=32, progress=False, val_split=split)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert list(hist[0]) == ["epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"]  # fit's
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    acc = ann_accuracy(model, split)
    assert 0.0 <= acc <= 1.0 and acc == pytest.approx(hist[-1]["test_accuracy"])
    with pytest.warns(FutureWarning, match="'loss' is now 'train_loss'"):  # snnsim 0.2.0's names still read
        assert hist[-1]["loss"] == hist[-1]["train_loss"]
    with pytest.warns(FutureWarning, match="'val_accuracy' is now 'test_accuracy'"):
        assert hist[-1]["val_accuracy"] == hist[-1]["test_accuracy"]
    save_ann(model, "fc", tmp_path / "a")
    assert torch.equal(load_ann(tmp_path / "a")(x), model.eval()(x))  # hidden sizes are remembered
    with pytest.raises(ValueError, match="ann.pt does not match the checksum in ann.json"):
        save_ann(ann_fc(input_shape=(1, 8, 8), n_classes=2), "fc", tmp_path / "c", input_shape=(1, 8, 8))
        (tmp_path / "c" / "ann.pt").write_bytes((tmp_path / "a" / "ann.pt").read_bytes())
        load_ann(tmp_path / "c")
    model = ann_scnn(input_shape=(1, 16, 16), n_classes=3)
    save_ann(model, directory=tmp_path / "b")
    loaded = load_ann(tmp_path / "b")
    assert loaded.input_shape == (1, 16, 16) and loaded.n_classes == 3
    xs = torch.rand(4, 1, 16, 16)
    assert torch.equal(loaded(xs), model.eval()(xs))
    with pytest.raises(FileNotFoundError):
        load_ann(tmp_path / "missing")
    with pytest.raises(ValueError, match="epochs"):
        train_ann(model, split, epochs=0)


def test_sgd_with_momentum_trains_and_bad_options_are_refused():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(200, 1, 8, 8, generator=g)
    y = (x.flatten(1)[:, :32].sum(1) > x.flatten(1)[:, 32:].sum(1)).long()
    split = Split(x, y)

    def run(epochs: int, momentum: float) -> list:
        torch.manual_seed(0)
        model = ann_fc(input_shape=(1, 8, 8), n_classes=2, hidden=(32,), dropout=0.0)
        return train_ann(
            model, split, epochs=epochs, lr=0.1, batch_size=20, progress=False, optimizer="sgd", momentum=momentum
        )

    hist = run(20, 0.5)
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"] and hist[-1]["train_accuracy"] > 0.9
    assert "test_accuracy" not in hist[0]  # no held-out split
    assert run(1, 0.0)[0]["train_loss"] != pytest.approx(hist[0]["train_loss"], abs=1e-6)  # momentum is applied
    model = ann_fc(input_shape=(1, 8, 8), n_classes=2, hidden=(32,))
    with pytest.raises(ValueError, match="optimizer"):
        train_ann(model, split, epochs=1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="momentum"):
        train_ann(model, split, epochs=1, optimizer="sgd", momentum=1.5)


def test_fc_bias_hidden_and_output_relu_options(tmp_path):
    """The TTFS paper's FC2 (784-340-10, biases, linear output) next to the defaults."""
    model = ann_fc(hidden=(340,), bias=True, output_relu=False)
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 340), (340, 10)]
    assert all(m.bias is not None and m.bias.abs().sum() > 0 for m in linear)
    assert list(model.children())[-1] is linear[-1]  # no ReLU after the output layer
    model.eval()
    assert (model(torch.rand(64, 1, 28, 28)) < 0).any()
    default = ann_fc(hidden=(340,))
    assert isinstance(list(default.children())[-1], nn.ReLU)
    assert all(m.bias is None for m in default.modules() if isinstance(m, nn.Linear))
    save_ann(model, directory=tmp_path / "fc2")
    loaded = load_ann(tmp_path / "fc2")
    x = torch.rand(5, 1, 28, 28)
    assert loaded.options == {"hidden": [340], "bias": True, "output_relu": False}
    assert torch.equal(loaded(x), model(x))
    lenet = ann_lenet(input_shape=(1, 28, 28), bias=True, output_relu=False)
    assert all(m.bias is not None for m in lenet.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    assert isinstance(list(lenet.children())[-1], nn.Linear)
    with pytest.raises(ValueError, match="hidden"):
        ann_fc(hidden=(0,))
    with pytest.raises(TypeError, match="bool"):
        ann_fc(bias="yes")


def test_train_ann_cli_options_and_bad_hidden(tmp_path, capsys):
    out = tmp_path / "fc2"
    assert (
        main(
            [
                "train-ann",
                "--hidden",
                "16",
                "--bias",
                "--no-output-relu",
                "--dataset",
                "digits",
                "--limit",
                "40",
                "--epochs",
                "1",
                "--no-progress",
                "--threads",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    model = load_ann(out)
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linear] == [16, 10] and all(m.bias is not None for m in linear)
    assert isinstance(list(model.children())[-1], nn.Linear)
    capsys.readouterr()
    for bad, net in (("340,x", "fc"), ("0", "fc"), ("", "fc"), ("340", "lenet")):
        rc = main(["train-ann", "--net", net, "--hidden", bad, "--out", str(tmp_path / "bad"), "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and "--hidden" in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


def test_train_ann_warns_when_the_outputs_die():
    from snnsim.data.datasets import Split

    torch.manual_seed(0)
    x = torch.rand(64, 1, 4, 4)
    split = Split(x, torch.randint(0, 3, (64,)))
    model = ann_fc(input_shape=(1, 4, 4), n_classes=3, hidden=(8,))
    with torch.no_grad():
        model[-2].weight.fill_(-1.0)  # output ReLUs dead for every input
    with pytest.warns(RuntimeWarning, match="output ReLUs died"):
        train_ann(model, split, epochs=1, progress=False)
    healthy = ann_fc(input_shape=(1, 4, 4), n_classes=3, hidden=(8,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        train_ann(healthy, split, epochs=1, lr=1e-4, progress=False)
