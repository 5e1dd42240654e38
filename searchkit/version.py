"""The installed package's version."""

from importlib import metadata

try:
    __version__ = metadata.version("searchkit")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
