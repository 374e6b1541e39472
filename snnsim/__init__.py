"""snnsim: spiking neural networks on BindsNET and PyTorch.

Importing the package is cheap (no torch): ``snnsim --help`` stays fast.
"""

__version__ = "0.2.0"

from snnsim._bindsnet_import import install as _install_bindsnet_guard
from snnsim._moved import install as _install_moved_paths

_install_bindsnet_guard()  # BindsNET's import must not silence snnsim's warnings
_install_moved_paths()  # the 0.1 module paths, for one release
