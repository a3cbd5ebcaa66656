"""Raising a run's failure into the user's cell with a short traceback.

A run fails in a worker thread, deep inside the library (the pool, the module, the
chat model, the ``openai`` client, ``httpx``...). Re-raised as it is, a wrong
``base_url`` fills a notebook cell with seven chained tracebacks, though the last
line says all there is to say. :func:`raise_for_user` raises the run's *own*
exception object (same type, same message, same attributes) with:

* its traceback trimmed to the user's code: the cell that waited, plus any frame
  of the user's own functions the error passed through (a module or tool defined
  in the notebook); frames of this package, the standard library and installed
  packages are dropped;
* its chain (``__cause__`` / ``__context__``) kept only where it holds user code.
  A chain that is pure plumbing (``ModelError`` <- ``APIConnectionError`` <-
  ``httpx.ConnectError``...) is detached from the display: the library's message
  already names the cause.

Nothing is lost: :func:`describe_failure` records the full traceback, chain
included, before any trimming (``run.traceback``; the widget shows it in the
run's error details).

**No library frame either.** The exception still passes through the library on its
way to the caller (``ask`` -> ``wait`` -> :func:`raise_for_user`), and each frame
adds itself to its traceback. ``__tracebackhide__`` hides them in IPython and
pytest, but IPython always shows the *last* frame (``raise_for_user`` when the
worker held no user code), and a script shows them all. So every public entry point
is wrapped in :func:`user_facing`: it puts back the trimmed traceback and re-raises
with a bare ``raise``, which (Python >= 3.11) adds no frame of its own. What the user
sees is their own line, then the error. On Python 3.10 a bare ``raise`` keeps the
traceback it caught, so the library's frames stay (hidden in IPython, as before).
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import sysconfig
import traceback
import types
from typing import Any, Callable, TypeVar

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.add(os.path.dirname(os.__file__))  # the stdlib of this interpreter, wherever the venv points
    return tuple(os.path.abspath(d) + os.sep for d in dirs if d)


_LIBRARY_DIRS = _library_dirs()


def is_user_frame(filename: str) -> bool:
    """True for a frame of the user's own code: a notebook cell, a script, a module of their project.

    Not user code: this package, the standard library, installed packages (``site-packages``,
    ``dist-packages``) and frozen modules.
    """
    if filename.startswith("<"):
        return not filename.startswith("<frozen")  # "<stdin>", "<string>", "<ipython-input-...>"
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR) or path.startswith(_LIBRARY_DIRS):
        return False
    return not any(part in ("site-packages", "dist-packages") for part in path.split(os.sep))


def user_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """``tb`` with only the user's frames, in the same order (None if none is left)."""
    kept: list[types.TracebackType] = []
    while tb is not None:
        if is_user_frame(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    trimmed: types.TracebackType | None = None
    for entry in reversed(kept):
        trimmed = types.TracebackType(trimmed, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return trimmed


def _chain(exc: BaseException) -> list[BaseException]:
    """The exceptions ``exc`` was raised from or during (as Python prints them), without ``exc``."""
    seen = {id(exc)}
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None:
        nxt = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        out.append(nxt)
        current = nxt
    return out


def trim(exc: BaseException) -> None:
    """Trim ``exc`` (in place) for display in the user's cell; see the module's docstring."""
    exc.__traceback__ = user_traceback(exc.__traceback__)
    chain = _chain(exc)
    for linked in chain:
        linked.__traceback__ = user_traceback(linked.__traceback__)
    if not any(linked.__traceback__ is not None for linked in chain):
        exc.__cause__ = None
        exc.__suppress_context__ = True  # plumbing only: the message already says what it needs to


def full_traceback(exc: BaseException) -> str:
    """The whole traceback of ``exc``, chain included, as Python would print it."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


#: Shown (on Python >= 3.11) under a trimmed error: where the rest of the story is.
HINT = "(the run's full traceback: run.traceback"


def hint(view: str | None = None) -> str:
    """The note under a trimmed error; ``view`` names what the caller asked through (``view``, ``console``)."""
    return HINT + (f", e.g. {view}.last_run.traceback)" if view else ")")

#: The exception on its way to the user's call, with the traceback it should arrive with (see :func:`user_facing`).
_raising: contextvars.ContextVar[tuple[BaseException, types.TracebackType | None] | None] = contextvars.ContextVar(
    "lazystream_raising", default=None)


def mark_for_user(exc: BaseException, tb: types.TracebackType | None = None) -> BaseException:
    """Have ``exc`` reach the user's call with traceback ``tb`` (None: only the caller's own frames).

    For errors the library raises about the call itself (a wait timeout, an interrupt): their frames
    inside the library say nothing the message does not.
    """
    _raising.set((exc, tb))
    return exc


def raise_for_user(exc: BaseException, worker_tb: types.TracebackType | None) -> None:
    """Raise ``exc`` (already :func:`trim`-med) with ``worker_tb``, its trimmed worker traceback.

    Each raise starts again from ``worker_tb``, so raising the same exception twice (``run.wait()``,
    then ``run.result``) never stacks the first caller's frames under the second's. The public call
    it leaves through (:func:`user_facing`) drops this frame and the library's others.
    """
    __tracebackhide__ = True  # Python 3.10 keeps this frame: IPython and pytest skip it unless it is the last
    mark_for_user(exc, worker_tb)
    raise exc.with_traceback(worker_tb)


F = TypeVar("F", bound=Callable[..., Any])


def _restore(exc: BaseException) -> None:
    """Give an error meant for the user the traceback it should arrive with (the library's frames dropped)."""
    marked = _raising.get()
    if marked is not None and marked[0] is exc:
        exc.__traceback__ = marked[1]
    elif hasattr(exc, "full_traceback"):  # raised through runtime.session.short(): library frames only
        exc.__traceback__ = None


def user_facing(func: F) -> F:
    """Decorator for a public call that can raise a run's error: the error leaves it with the user's frames only.

    The wrapper re-raises with a bare ``raise`` after restoring the trimmed traceback; on Python >= 3.11
    that adds no frame, so neither the wrapper nor anything below it shows (see the module docstring).
    Other exceptions (a bug of ours) pass through untouched, with every frame.
    """
    if getattr(func, "__code__", None) is not None and func.__code__.co_flags & 0x80:  # CO_COROUTINE

        @functools.wraps(func)
        async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            try:
                return await func(*args, **kwargs)
            except BaseException as exc:
                _restore(exc)
                raise

        return wrapper_async  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            _restore(exc)
            raise

    return wrapper  # type: ignore[return-value]


def prepare(exc: BaseException, view: str | None = None) -> types.TracebackType | None:
    """Trim ``exc`` for the user, once; return its trimmed worker traceback for :func:`raise_for_user`.

    ``view`` names what the run was asked through (``"view"``, ``"console"``; None for a bare run), for the
    note that says where the full traceback is.
    """
    trim(exc)
    if sys.version_info >= (3, 11) and not any(n.startswith(HINT) for n in getattr(exc, "__notes__", ())):
        exc.add_note(hint(view))
    return exc.__traceback__
