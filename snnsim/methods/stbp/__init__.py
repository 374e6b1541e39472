"""STBP with threshold-dependent BatchNorm for deep spiking ResNets (Zheng et al. 2021).

- :mod:`.tdbn`: tdBN and its folding into the weights; :mod:`.ops`: the ``tdbn`` and
  ``identity`` ops; :mod:`.resnet`: ResNet-19 specs; :mod:`.rule`: the rule ``stbp-tdbn``.
"""
