"""``whoosh.compat`` imported without ``urllib.request``, which it imports for ``urlretrieve`` alone (with
``http.client``, ``email`` and ``ssl``: about 20 ms, a fifth of a one-shot query's start-up); nothing in Whoosh's
indexing or searching calls it. ``whoosh.compat.urlretrieve`` stays usable: it imports the real one when called.
"""

from __future__ import annotations

import importlib
import sys
import types


def import_whoosh_compat() -> None:
    """Import ``whoosh.compat`` (before any other Whoosh module: they all import it first), its
    ``urllib.request`` a stand-in for that one import only; nothing else ever sees the stand-in."""
    if "whoosh.compat" in sys.modules or "urllib.request" in sys.modules:
        return
    stand_in = types.ModuleType("urllib.request", "stand-in for the import of whoosh.compat")
    stand_in.urlretrieve = _urlretrieve  # type: ignore[attr-defined]
    sys.modules["urllib.request"] = stand_in
    try:
        importlib.import_module("whoosh.compat")
    finally:
        if sys.modules.get("urllib.request") is stand_in:
            del sys.modules["urllib.request"]


def _urlretrieve(*args, **kwargs):
    """``urllib.request.urlretrieve``, imported when first called."""
    from urllib.request import urlretrieve

    return urlretrieve(*args, **kwargs)
