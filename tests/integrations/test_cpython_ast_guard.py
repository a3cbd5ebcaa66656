"""The interpreter bug behind LazyLLM's intermittent "AST constructor recursion depth mismatch", made to happen
every time, and the guard the integration tests use against it (see cpython_ast_guard.py)."""

from __future__ import annotations

import ast
import gc
import threading
from typing import Callable

from .cpython_ast_guard import AFFECTED, install

SOURCE = "def f(a, b):\n    return [a + b * i for i in range(10)]\n" * 200


def _parse_while_another_thread_parses(parse: Callable[..., ast.AST], guarded: bool) -> BaseException | None:
    """Parse SOURCE; when a garbage collection starts in the middle, another thread parses (as the interpreter's
    thread switch can let it). Returns the error of our parse, if any."""
    armed, go, parsing, other_done = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def other() -> None:
        go.wait(30)
        parsing.set()
        try:
            parse("x = 1")
        finally:
            other_done.set()

    def mid_parse(phase: str, _info: dict) -> None:
        if phase == "start" and armed.is_set() and not go.is_set() and threading.current_thread() is main:
            go.set()
            parsing.wait(30)
            # unguarded, the other parse runs to its end now; guarded, it waits for ours (so don't wait for it)
            other_done.wait(0.2 if guarded else 30)

    main, thread = threading.current_thread(), threading.Thread(target=other)
    thread.start()
    threshold = gc.get_threshold()
    gc.callbacks.append(mid_parse)
    gc.collect()  # counting from zero, the 50th new object comes while the parse builds its thousands of nodes
    gc.set_threshold(50)
    try:
        armed.set()
        parse(SOURCE)
        return None
    except SystemError as exc:
        return exc
    finally:
        gc.callbacks.remove(mid_parse)
        gc.set_threshold(*threshold)
        go.set()
        thread.join(30)
    # (the other thread's own parse cannot fail: it starts and ends inside ours)


def test_the_guard_makes_parses_in_two_threads_safe() -> None:
    guarded = install()
    assert guarded is AFFECTED and (getattr(ast.parse, "__wrapped__", None) is not None) is AFFECTED
    assert _parse_while_another_thread_parses(ast.parse, guarded=AFFECTED) is None
    if AFFECTED:  # and without it this interpreter really has the bug (so the guard is not there for nothing)
        error = _parse_while_another_thread_parses(ast.parse.__wrapped__, guarded=False)
        assert error is not None and "AST constructor recursion depth mismatch" in str(error)
