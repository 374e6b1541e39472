"""One BatchNorm fold (snnsim.core.bnfold) behind conversion, tdBN and TTFS mapping."""

import torch
from torch import nn

from snnsim.core.bnfold import bn_affine, fold_bn
from snnsim.methods.conversion import fold_batchnorm
from snnsim.methods.stbp.tdbn import TDBatchNorm2d, fold_into


def _trained_bn(bn: nn.modules.batchnorm._BatchNorm) -> nn.modules.batchnorm._BatchNorm:
    torch.manual_seed(0)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        if bn.weight is not None:
            bn.weight.uniform_(-2, 2)
            bn.bias.uniform_(-1, 1)
    return bn.eval()


def test_fold_bn_equals_bn_after_layer_float64():
    torch.manual_seed(1)
    for layer, bn, x in [
        (nn.Linear(6, 4, bias=False).double(), nn.BatchNorm1d(4).double(), torch.randn(5, 6, dtype=torch.float64)),
        (
            nn.Conv2d(2, 3, 3, padding=1).double(),
            nn.BatchNorm2d(3, affine=False).double(),
            torch.randn(2, 2, 5, 5, dtype=torch.float64),
        ),
    ]:
        bn = _trained_bn(bn)
        folded = fold_bn(layer, bn)
        assert folded.bias is not None
        assert torch.allclose(folded(x), bn(layer(x)), atol=1e-12)


def test_bn_affine_scale_is_tdbn_scale():
    bn = _trained_bn(TDBatchNorm2d(3, alpha=0.5, v_th=0.4))
    g1, c1 = bn_affine(bn)
    g2, c2 = bn_affine(bn, bn.scale)
    x = torch.randn(2, 3, 4, 4)
    y = g2.view(1, -1, 1, 1) * x.double() + c2.view(1, -1, 1, 1)
    assert torch.allclose(y.float(), bn(x), atol=1e-5)
    assert torch.allclose(g2, g1 * bn.scale)


def test_conversion_and_tdbn_folds_are_the_same_function():
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3)
    bn = _trained_bn(nn.BatchNorm2d(3))
    a, b = fold_batchnorm(conv, bn), fold_into(conv, bn)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
