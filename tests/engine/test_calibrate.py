"""The density micro-benchmark (snnsim.engine.calibrate) stores its model per shape and threads."""

import torch

from snnsim.core import density
from snnsim.core.density import ALWAYS_DENSE, use_cost_model
from snnsim.engine.calibrate import calibrate


def test_calibration_is_cached_per_shape_and_threads():
    model = calibrate(64, 96, 32, repeats=1)
    assert 0.0 <= model.forward <= 1.0 and 0.0 <= model.wgrad <= 1.0
    assert density.cost_model("cpu", 64, 96, 32) is model
    assert density.cost_model("cpu", 65, 96, 32) == density.default_models("cpu")[min(torch.get_num_threads(), 2)]
    with use_cost_model(ALWAYS_DENSE):
        assert density.cost_model("cpu", 64, 96, 32) is ALWAYS_DENSE
