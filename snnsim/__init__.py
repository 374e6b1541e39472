"""snnsim: spiking neural networks on BindsNET and PyTorch.

Importing the package is cheap (no torch): ``snnsim --help`` stays fast.
"""
__version__ = "0.1.0"
