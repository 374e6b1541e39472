"""analysis.learning: learning curves read from metrics.csv, grouped by label, written and plotted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from analysis.learning import learning_curves, main, plot_learning_curves, read_curve, write_rows
from snnsim.errors import UserError


def _run(tmp_path: Path, name: str, accs: list[float]) -> Path:
    d = tmp_path / name
    d.mkdir()
    rows = [f"{e},0.1,0.5,{a},0.001,1.0" for e, a in enumerate(accs, 1)]
    (d / "metrics.csv").write_text(
        "epoch,train_loss,train_accuracy,test_accuracy,lr,seconds\n" + "\n".join(rows) + "\n"
    )
    return d


def test_curves_rows_and_plot(tmp_path: Path) -> None:
    a0, a1 = _run(tmp_path, "a0", [0.9, 0.95]), _run(tmp_path, "a1", [0.8, 0.97])
    b0 = _run(tmp_path, "b0", [0.5, 0.6, 0.7])
    curves = learning_curves({"A": [a0, a1], "B": [b0 / "metrics.csv"]})
    assert curves == {"A": [{1: 0.9, 2: 0.95}, {1: 0.8, 2: 0.97}], "B": [{1: 0.5, 2: 0.6, 3: 0.7}]}
    rows = list(csv.reader(write_rows(curves, tmp_path / "c.csv").open()))
    assert rows[0] == ["run", "seed", "epoch", "test_accuracy"] and len(rows) == 1 + 4 + 3
    assert rows[4] == ["A", "1", "2", "0.97"]
    fig = plot_learning_curves(curves, path=tmp_path / "c.png")
    mean_line = fig.axes[0].lines[0]
    assert list(mean_line.get_ydata()) == pytest.approx([85.0, 96.0])
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_cli_writes_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a0 = _run(tmp_path, "a0", [0.9, 0.95])
    main(["--runs", f"A={a0}", "--csv", str(tmp_path / "c.csv"), "--png", str(tmp_path / "c.png")])
    assert "A: last epoch 95.00%" in capsys.readouterr().out
    assert (tmp_path / "c.csv").exists() and (tmp_path / "c.png").exists()


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such metrics file"):
        read_curve(tmp_path / "missing")
    (tmp_path / "bad.csv").write_text("epoch,loss\n1,0.3\n")
    with pytest.raises(UserError, match="test_accuracy"):
        read_curve(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("epoch,test_accuracy\n1,abc\n")
    with pytest.raises(UserError, match="unreadable row"):
        read_curve(tmp_path / "bad2.csv")
    with pytest.raises(UserError, match="LABEL=RUN"):
        main(["--runs", "nolabel"])
    with pytest.raises(UserError, match="share no epoch"):
        plot_learning_curves({"A": [{1: 0.5}, {2: 0.6}]})
