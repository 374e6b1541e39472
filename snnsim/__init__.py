"""snnsim: spiking neural networks on BindsNET and PyTorch.

Importing the package is cheap (no torch): ``snnsim --help`` stays fast.
"""
__version__ = "0.1.0"

from ._bindsnet_import import install as _install_bindsnet_guard

_install_bindsnet_guard()  # BindsNET's import must not silence snnsim's warnings
