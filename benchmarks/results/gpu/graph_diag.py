"""The H200 diagnostic of 2026-12-04 (output: graph_diag.log).
Why does the graphed ResNet-19 forward differ from the eager one? Same net, same params."""

import warnings

import torch

import networks
from snnsim.engine import forward
from snnsim.engine.cuda_graph import Graphed

torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
warnings.simplefilter("always")
for det in (False, True):
    torch.backends.cudnn.deterministic = det
    torch.manual_seed(0)
    net = networks.resnet19(input_shape=(3, 16, 16), width=0.0625).cuda().train()

    def infer(x, net=net):
        with torch.no_grad():
            rec = forward(net, x)
            return rec.voltages["out"][-1], {k: v.sum() for k, v in rec.spikes.items()}

    gi = Graphed(infer, warmup=2)
    g = torch.Generator().manual_seed(2)
    for i in range(5):
        x = (torch.rand(4, 8, 3, 16, 16, generator=g) < 0.3).cuda()
        with warnings.catch_warnings(record=True) as w:
            vg, sg = gi(x)
        ve, se = infer(x)
        ve2, _ = infer(x)
        print(f"  eager repeat maxdiff={float((ve2 - ve).abs().max()):.3g}", flush=True)
        bad = [k for k in se if float(se[k]) != float(sg[k])]
        print(
            f"det={det} i={i} graphs={gi.graphs} maxdiff={float((vg - ve).abs().max()):.3g} "
            f"spike-count layers differing={len(bad)}/{len(se)} first={bad[:3]} "
            f"warn={[str(x.message)[:200] for x in w]}",
            flush=True,
        )
    net.eval()
    ge = Graphed(infer, warmup=1)
    for i in range(3):
        vg, _ = ge(x)
        ve, _ = infer(x)
        print(f"eval det={det} i={i} graphs={ge.graphs} maxdiff={float((vg - ve).abs().max()):.3g}", flush=True)
