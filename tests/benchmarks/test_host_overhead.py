"""benchmarks/host_overhead.py: measures both calls and writes its JSON, for this checkout or another."""

import json

from benchmarks import host_overhead


def test_writes_both_times(tmp_path):
    out = tmp_path / "ho.json"
    result = host_overhead.main(["--out", str(out)])
    data = json.loads(out.read_text())
    assert data["benchmark"] == "host_overhead" and "cpu_model" in data
    assert 0 < result["train_step_ms"] < 1000 and 0 < result["forward_ms"] < result["train_step_ms"]
