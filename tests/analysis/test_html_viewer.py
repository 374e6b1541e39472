"""The HTML viewer (analysis.html_viewer, ``snnsim view --html``): its data, the page, and the
page in a real browser (headless Chromium driven by Selenium, network off)."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis import raster_points, record, shown_neurons, view
from analysis.viewer_data import looks_ttfs, viewer_data
from snnsim.cli import main
from snnsim.engine import Record, simulate
from snnsim.errors import UserError
from tests import browser
from tests.analysis.test_analysis import make_input, make_net

T, B = 30, 3


def make_record(seed: int = 0, big: int = 2500) -> Record:
    """Layers in (64), big (``big`` neurons, [T, B, 5, big // 5]), out (6, voltages too); B samples."""
    g = torch.Generator().manual_seed(seed)
    spikes = {
        "in": torch.rand(T, B, 64, generator=g) < 0.2,
        "big": torch.rand(T, B, 5, big // 5, generator=g) < 0.05,
        "out": torch.rand(T, B, 6, generator=g) < 0.3,
    }
    spikes["big"][:, 1] = False  # sample 1 is silent in "big": the samples differ visibly
    return Record(spikes, {"out": torch.randn(T, B, 6, generator=g)}, 0.5)


def decode(spec: object) -> np.ndarray:
    """A plotly typed-array spec (or plain list; nulls dropped) as numpy."""
    if isinstance(spec, dict):
        return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.dtype(spec["dtype"]).newbyteorder("<"))
    return np.asarray([v for v in spec if v is not None])


def test_viewer_data_is_the_png_raster_subsampling() -> None:
    rec = make_record()
    vd = viewer_data(rec, torch.tensor([3, 1, 4]))
    assert vd.names == ["in", "big", "out"] and vd.samples == [0, 1, 2] and vd.labels == [3, 1, 4]
    assert vd.shown == {"in": 64, "big": 2000, "out": 6} and vd.sizes["big"] == 2500
    assert vd.notes == ["big: 2000 of 2500 neurons shown (evenly spaced)"]
    keep = shown_neurons(2500)
    for b in range(B):
        t, n = raster_points(rec.spikes["big"], b, neurons=keep)
        np.testing.assert_array_equal(vd.data[b].raster["big"][0], t.numpy())
        np.testing.assert_array_equal(vd.data[b].raster["big"][1], n.numpy())
        counts = rec.spikes["in"][:, b].sum(1).numpy()
        np.testing.assert_array_equal(vd.data[b].counts["in"], counts)
        assert vd.data[b].rates["in"] == pytest.approx(counts.sum() / (T * 64))
        assert list(vd.data[b].traces) == ["out"] and vd.data[b].traces["out"][1].shape == (T, 6)
    assert vd.data[1].raster["big"][0].size == 0 and not vd.ttfs


def test_viewer_data_takes_a_dict_of_spikes_like_the_other_analysis_functions() -> None:
    rec = make_record()
    vd = viewer_data({"in": rec.spikes["in"]})  # was an AttributeError (the raw dict was used)
    assert vd.names == ["in"] and vd.samples == [0, 1, 2]
    np.testing.assert_array_equal(vd.data[0].counts["in"], rec.spikes["in"][:, 0].sum(1).numpy())


def test_spike_budget_bounds_samples_and_the_file(tmp_path: Path) -> None:
    rec = make_record()
    per = [viewer_data(rec, sample=b, max_spikes=10**9).data[b].n_spikes for b in range(B)]
    vd = viewer_data(rec, max_spikes=per[0] + per[1] + per[2] - 1)
    assert vd.samples == [0, 1] and vd.n_spikes == per[0] + per[1]
    assert vd.notes[-1] == f"2 of 3 samples included (spike budget {per[0] + per[1] + per[2] - 1})"
    with pytest.raises(UserError, match="sample 2 alone has"):
        viewer_data(rec, sample=2, max_spikes=per[2] - 1)
    small, large = view(rec, max_spikes=per[0]), view(rec)
    assert small.data.samples == [0]
    assert small.write(tmp_path / "a.html") < large.write(tmp_path / "b.html")


def test_menu_swaps_every_panel_to_the_chosen_sample() -> None:
    rec = make_record()
    page = view(rec, sample=2, labels=[7, 8, 9])
    fig = page.figure.to_plotly_json()
    (menu,) = fig["layout"]["updatemenus"]
    assert menu["active"] == 2 and [b["label"] for b in menu["buttons"]] == [
        f"sample {b}, label {7 + b}" for b in range(B)
    ]
    names = [tr.get("name") for tr in fig["data"]]
    for b, button in enumerate(menu["buttons"]):
        update, layout = button["args"]
        assert layout["title.text"].startswith(f"sample {b}, label {7 + b}:")
        assert update["name"] == names  # every trace keeps its name
        raster = {n: i for i, n in enumerate(names) if fig["data"][i]["type"] == "scattergl"}
        for layer, i in raster.items():
            t, n = page.data.data[b].raster[layer]
            np.testing.assert_array_equal(decode(update["x"][i]), t)
            np.testing.assert_array_equal(decode(update["y"][i]), n)
    shown = page.data.data[2].raster["big"]
    i_big = names.index("big")
    np.testing.assert_array_equal(decode(fig["data"][i_big]["x"]), shown[0])


def test_page_is_self_contained_and_layers_start_hidden(tmp_path: Path) -> None:
    page = view(make_record(), layers=["out"], window=(5, 20))
    size = page.write(tmp_path / "v.html")
    html = (tmp_path / "v.html").read_text()
    assert size == (tmp_path / "v.html").stat().st_size
    assert not re.search(r"<script[^>]*\bsrc=", html), "every script must be inline"
    assert "* plotly.js v" in html and len(html) > 3_000_000  # plotly.js is inlined
    fig = page.figure
    vis = {tr.legendgroup: tr.visible for tr in fig.data if tr.type == "scattergl"}
    assert vis == {"in": "legendonly", "big": "legendonly", "out": None}
    assert list(fig.layout.xaxis.range) == [4.5, 19.5]
    with pytest.raises(UserError, match="layers"):
        view(make_record(), layers=["nope"])
    with pytest.raises(UserError, match="window"):
        view(make_record(), window=(5, 99))
    with pytest.raises(UserError, match=r"\.html"):
        page.write(tmp_path / "v.png")


def test_ttfs_records_get_the_first_spike_panel() -> None:
    rec = make_record()
    assert not looks_ttfs(rec)
    first = torch.zeros(T, B, 8, dtype=torch.bool)
    first[torch.tensor([3, 5, 9]), 0, torch.tensor([0, 1, 2])] = True
    ttfs = Record({"in": rec.spikes["in"], "h": first}, {}, 1.0)
    assert looks_ttfs(ttfs)
    page = view(ttfs)
    hists = [tr for tr in page.figure.data if tr.type == "histogram"]
    assert [h.name for h in hists] == ["in", "h"]
    assert sorted(decode(page.figure.to_plotly_json()["data"][-1]["x"])) == [3, 5, 9]  # h's first spikes, sample 0
    assert not any(tr.type == "histogram" for tr in view(ttfs, ttfs=False).figure.data)


def test_view_takes_a_recording_straight_from_record() -> None:
    net = make_net()
    with record(net, variables=("s", "v")) as rec:
        simulate(net, make_input(20, 2))
    page = view(rec)
    assert page.data.samples == [0, 1] and page.data.names == list(net.layers)
    assert page.data.n_spikes == sum(int(s.sum()) for s in rec.spikes.values())
    bundle = page._repr_mimebundle_()  # what a notebook shows
    assert bundle["application/vnd.plotly.v1+json"]["layout"]["updatemenus"][0]["name"] == "sample"
    frame = bundle["text/html"]
    assert frame.startswith("<iframe srcdoc=") and html.unescape(frame).count("* plotly.js v") == 1


def test_cli_writes_html_and_reports_its_size(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rec = make_record()
    run = tmp_path / "run"
    run.mkdir()
    torch.save(
        {"spikes": rec.spikes, "voltages": rec.voltages, "dt": rec.dt, "labels": torch.tensor([1, 2, 3])},
        run / "record.pt",
    )
    (run / "report.json").write_text(json.dumps({"command": "simulate"}))
    out = tmp_path / "view.html"
    assert main(["view", str(run), "--html", str(out), "--sample", "1", "--max-neurons", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mb = out.stat().st_size / 1e6
    assert lines[0].startswith(f"{out} ({mb:.1f} MB: ") and "of 3 of 3 samples, 3 layers" in lines[0]
    assert lines[1] == "note: big: 100 of 2500 neurons shown (evenly spaced)"
    assert main(["view", str(run), "--html", str(tmp_path / "v.txt")]) == 2
    assert main(["view", str(run), "--html", str(out), "--save", str(tmp_path / "v.png")]) == 2
    assert main(["view", str(run), "--html", str(out), "--max-spikes", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "max_spikes" in err[2]


# --- in a real browser ---------------------------------------------------------------------------
# the page's state: title, per raster trace [name, legend state, points drawn], per trace [layer, legend state]
STATE = """const g = document.getElementById('snnsim-viewer');
const shown = t => t.visible === undefined ? true : t.visible;
return {title: g.layout.title.text,
        raster: g._fullData.filter(t => t.type === 'scattergl')
                 .map(t => [t.name, shown(g.data[t.index]), Array.from(t.x || []).filter(v => v !== null).length]),
        visible: g.data.map(t => [t.legendgroup, shown(t)])};"""


def settled(driver, done, timeout: float = 10.0) -> dict:  # type: ignore[no-untyped-def]
    """The page's STATE once ``done(state)`` holds (or the last one after ``timeout`` s)."""
    end = time.monotonic() + timeout
    state = driver.execute_script(STATE)
    while not done(state) and time.monotonic() < end:
        time.sleep(0.05)
        state = driver.execute_script(STATE)
    return state


@pytest.fixture(scope="module")
def driver():  # type: ignore[no-untyped-def]
    why = browser.missing()
    if why:
        pytest.skip(why)
    d = browser.chrome()
    yield d
    d.quit()


def test_page_in_headless_chromium(driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    page = view(make_record(), labels=[5, 6, 7])
    page.write(tmp_path / "v.html")
    driver.get((tmp_path / "v.html").as_uri())
    browser.wait_drawn(driver)
    assert driver.execute_script("return document.querySelectorAll('script[src]').length") == 0
    before = driver.execute_script(STATE)
    counts = {b: {n: int(page.data.data[b].raster[n][0].size) for n in page.data.names} for b in range(B)}
    assert before["raster"] == [[n, True, counts[0][n]] for n in page.data.names]
    assert before["title"].startswith("sample 0, label 5:")

    driver.find_element(By.CSS_SELECTOR, ".updatemenu-header-group").click()  # the sample menu
    driver.find_elements(By.CSS_SELECTOR, ".updatemenu-dropdown-button")[1].click()
    after = settled(driver, lambda st: st["title"] != before["title"])
    assert after["title"].startswith("sample 1, label 6:")
    assert after["raster"] == [[n, True, counts[1][n]] for n in page.data.names] and counts[1]["big"] == 0
    assert counts[0]["big"] > 0

    items = driver.find_elements(By.CSS_SELECTOR, ".legend .traces")
    assert [i.find_element(By.CSS_SELECTOR, ".legendtext").text for i in items] == page.data.names  # silent too
    items[2].find_element(By.CSS_SELECTOR, ".legendtoggle").click()  # layer "out"
    toggled = settled(driver, lambda st: st != after)  # plotly waits out its double-click delay
    assert {v for g, v in toggled["visible"] if g == "out"} == {"legendonly"}
    assert {v for g, v in toggled["visible"] if g != "out"} == {True}
    assert toggled["raster"][:2] == after["raster"][:2]

    png = tmp_path / "shot.png"
    assert driver.save_screenshot(str(png))
    from matplotlib.image import imread

    pixels = imread(str(png))[..., :3]
    assert pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, "blank screenshot"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    offline = driver.execute_async_script(  # last: the failed request logs an error
        "const done = arguments[0];"
        "fetch('http://example.com/', {mode: 'no-cors'}).then(() => done('online'), () => done('offline'));"
    )
    assert offline == "offline", "the browser must have no network"
