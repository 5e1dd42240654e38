"""``whoosh.compat`` imported without the modules it imports only to re-export for later use: ``urllib.request``
for ``urlretrieve`` (with ``http.client``, ``email`` and ``ssl``: about 20 ms, a fifth of a one-shot query's
start-up), ``html`` for ``escape`` (its entity tables) and ``queue`` (Whoosh's multiprocess writer); nothing a
search does uses them. Each stays usable through ``whoosh.compat``: the real module is imported when first used.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

STAND_INS: dict[str, tuple[str, ...]] = {"urllib.request": ("urlretrieve",), "html": ("escape",), "queue": ()}
"""Module → the functions ``whoosh.compat`` imports from it (other attributes are read only when used)."""


def import_whoosh_compat() -> None:
    """Import ``whoosh.compat`` (before any other Whoosh module: they all import it first) with each module of
    ``STAND_INS`` a stand-in for that one import only; nothing else ever sees a stand-in in ``sys.modules``."""
    if "whoosh.compat" in sys.modules or any(name in sys.modules for name in STAND_INS):
        return
    stand_ins = {name: _stand_in(name, functions) for name, functions in STAND_INS.items()}
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("whoosh.compat")
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def _stand_in(name: str, functions: tuple[str, ...]) -> types.ModuleType:
    """A module that imports ``name`` when one of its attributes is first read, or one of ``functions`` called."""
    module = types.ModuleType(name, "stand-in for the import of whoosh.compat")
    for function in functions:
        setattr(module, function, _deferred(name, function))

    def attribute(attribute: str) -> Any:
        if attribute.startswith("__") or sys.modules.get(name) is module:  # the import system's own look-ups
            raise AttributeError(attribute)
        return getattr(importlib.import_module(name), attribute)

    module.__getattr__ = attribute  # type: ignore[method-assign]
    return module


def _deferred(module: str, function: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    call.__doc__ = f"``{module}.{function}``, imported when first called."
    return call
