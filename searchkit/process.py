"""How a command process ends, the way Unix tools end: by a signal (cleanup run, exit 128 + N), or by SIGPIPE on a
closed stdout, never with a traceback; and what its output streams cannot encode, escaped.

Shared by the typer app (``cli.py``) and the one-shot query (``oneshot.py``), which imports neither typer nor rich.
"""

from __future__ import annotations

import codecs
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""Signals that end a command through ``Interrupted`` (cleanup runs) instead of their default action."""


class Interrupted(BaseException):
    """Raised by a signal of ``ENDING_SIGNALS``: a BaseException, so the library's cleanup (``finally``, the
    removal of an uncommitted generation) runs and nothing catches it as an error; exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)  # picklable: an indexing process hands it to the parent
        self.signum = signum


received: list[int] = []
"""The signals received: one raised where Python ignores exceptions (an at-fork hook, a ``__del__``) is lost as
an exception, not as a signal."""


_armed: list[int] = []
"""The signals of ``ENDING_SIGNALS`` this process handles (not those it was started ignoring)."""
_fork_hooked: list[bool] = []


def _raise_interrupted(signum: int, frame: object) -> None:
    received.append(signum)
    for ending in _armed:
        signal.signal(ending, signal.SIG_DFL)  # a second Ctrl-C ends the process at once (the commit is crash-safe)
    raise Interrupted(signum)


def _unraisable(unraisable) -> None:
    """``sys.unraisablehook``: an ``Interrupted`` raised where Python cannot propagate it (an at-fork hook as
    the indexing processes start, a ``__del__``) is raised again 50 ms later, by a timer, in the code running then
    (raised from here, it would land in the same place)."""
    if isinstance(unraisable.exc_value, Interrupted) and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, _raise_again)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
    elif not isinstance(unraisable.exc_value, Interrupted):
        sys.__unraisablehook__(unraisable)


def _forking() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, _armed)  # held until the child ignores them (pending: the parent's)


def _forked_in_parent() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _armed)


def _forked_in_child() -> None:
    # An indexing process leaves these signals to its parent, which kills it and removes what it wrote; raised
    # in the child outside its job, one would print multiprocessing's traceback.
    for ending in _armed:
        signal.signal(ending, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _armed)


def _raise_again(signum: int, frame: object) -> None:
    raise Interrupted(received[0])


def cancel_raising_again() -> None:
    """Once an ``Interrupted`` is being handled: a pending timer would raise another (or, at exit, kill)."""
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


def _escape_unencodable(error: UnicodeError) -> tuple[str, int]:
    """What the output stream cannot encode, as JSON escapes (``\\u00e9``, astral characters as surrogate pairs):
    ``--json`` lines stay valid JSON on an ASCII stdout, and terminal text stays readable."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escaped = []
    for char in error.object[error.start:error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped), error.end


codecs.register_error("searchkit-escape", _escape_unencodable)


def run(command: Callable[[], T]) -> T:
    """Call ``command`` as the process's command: a closed stdout pipe ends the process by SIGPIPE (as it ends
    ``cat``: no BrokenPipeError, and never exit 1, which means "nothing matched"); output that stdout or stderr
    cannot encode is escaped; a signal of ``ENDING_SIGNALS`` raises ``Interrupted`` and ends it with 128 + N."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # None where started with the descriptor closed
            # An article's text (or a lone surrogate) that an ASCII or Latin-1 stdout cannot encode.
            stream.reconfigure(errors="searchkit-escape")
    handled = threading.current_thread() is threading.main_thread()
    previous = {s: signal.getsignal(s) for s in ENDING_SIGNALS} if handled else {}
    _armed[:] = [s for s, handler in previous.items() if handler is not signal.SIG_IGN]  # nohup: stays ignored
    for ending in _armed:
        signal.signal(ending, _raise_interrupted)
    if _armed and hasattr(signal, "pthread_sigmask") and not _fork_hooked:
        os.register_at_fork(before=_forking, after_in_parent=_forked_in_parent, after_in_child=_forked_in_child)
        _fork_hooked.append(True)
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, _unraisable
    try:
        return command()
    except Interrupted as e:
        cancel_raising_again()
        say(f"interrupted ({signal.Signals(e.signum).name})")
        sys.exit(128 + e.signum)
    except SystemExit as e:
        code = e.code or 0
        if received and isinstance(code, int) and code < 128:  # the signal's exception was swallowed
            say(f"interrupted ({signal.Signals(received[0]).name})")
            sys.exit(128 + received[0])
        raise
    finally:
        cancel_raising_again()
        sys.unraisablehook = unraisable_hook
        for ending, handler in previous.items():
            signal.signal(ending, handler)


def say(line: str) -> None:
    """One line on stderr, as given (the caller makes quoted input visible), if stderr is still there (a
    hung-up terminal is gone); tabs expanded to 8-column stops, as rich prints them."""
    try:
        sys.stderr.write(line.expandtabs(8) + "\n")
        sys.stderr.flush()
    except (OSError, AttributeError):  # AttributeError: no stderr at all (started with the descriptor closed)
        pass
