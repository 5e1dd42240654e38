"""The installed package's version, read from its metadata when first asked for (``importlib.metadata`` takes
about 20 ms to import, which a search does not need)."""

from functools import cache


@cache
def installed_version() -> str:
    """The installed package's version; ``0+unknown`` in a source tree that was never installed."""
    from importlib import metadata

    try:
        return metadata.version("searchkit")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> str:
    """``__version__``, as ``installed_version()``."""
    if name == "__version__":
        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
