"""worldfm: physical-AI world foundation models that run end to end on a laptop CPU."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("worldfm")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
