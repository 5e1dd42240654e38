"""``whoosh.compat`` imported without the modules it imports only to re-export for later use: ``urllib.request``
for ``urlretrieve`` (with ``http.client``, ``email`` and ``ssl``: about 20 ms, a fifth of a one-shot query's
start-up), ``html`` for ``escape`` (its entity tables) and ``queue`` (Whoosh's multiprocess writer); nothing a
search does uses them. Each stays usable through ``whoosh.compat``: the real module is imported when first used.
And Whoosh's English Snowball stemmer made without its 13 other languages (``english_snowball_only``).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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


@contextmanager
def english_snowball_only() -> Iterator[None]:
    """Within the block, ``whoosh.lang.snowball`` is a stand-in holding only the English stemmer (``classes``, which
    ``whoosh.lang.stemmer_for_language`` reads): the package imports all 14 languages' stemmers, which a
    ``StemFilter(lang="en")`` made in the block does not need. The stand-in is gone after the block; a later import
    of the package imports the real one (and its English module, already imported, once)."""
    if "whoosh.lang.snowball" in sys.modules:
        yield
        return
    import whoosh.lang

    package = types.ModuleType("whoosh.lang.snowball", "stand-in: the English stemmer alone")
    package.__path__ = [str(Path(whoosh.lang.__file__).parent / "snowball")]
    package.__package__ = "whoosh.lang.snowball"
    sys.modules["whoosh.lang.snowball"] = package
    try:
        english = importlib.import_module("whoosh.lang.snowball.english")
        package.classes = {"en": english.EnglishStemmer}  # type: ignore[attr-defined]
        yield
    finally:
        if sys.modules.get("whoosh.lang.snowball") is package:
            del sys.modules["whoosh.lang.snowball"]
