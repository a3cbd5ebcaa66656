"""globals / locals and Thread on our side: each run has its own globals, Thread carries the session's queues."""

from __future__ import annotations

import threading

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.runner import Run
from lazystream_widget.runtime.session import session


def test_each_widget_run_has_its_own_globals_keyed_by_its_session() -> None:
    lazyllm.globals["who"] = "the notebook"
    gate = threading.Barrier(2, timeout=10)

    def module(name: str) -> list:
        lazyllm.globals["who"] = name
        gate.wait()  # both runs have written before either reads
        return [lazyllm.globals["who"], lazyllm.globals._sid]

    a, b = Run(module, "run a").start(), Run(module, "run b").start()
    (who_a, sid_a), (who_b, sid_b) = a.wait(10), b.wait(10)
    assert (who_a, who_b) == ("run a", "run b")
    assert sid_a == a._session.id and sid_b == b._session.id and sid_a != sid_b
    assert lazyllm.globals["who"] == "the notebook"


def test_a_session_block_has_its_own_globals_and_pool_work_shares_them() -> None:
    lazyllm.globals["k"] = "outside"
    with session() as sess:
        assert lazyllm.globals._sid == sess.id and lazyllm.globals.get("k") is None
        with lazyllm.ThreadPoolExecutor(1) as pool:
            pool.submit(lazyllm.globals.__setitem__, "k", "inside").result()
        assert lazyllm.globals["k"] == "inside"
    assert lazyllm.globals["k"] == "outside"


def test_thread_writes_to_the_queues_of_the_session_it_was_created_in() -> None:
    def talk() -> str:
        lazyllm.FileSystemQueue().enqueue("from the thread")
        return "done"

    with session() as sess:
        lazy, plain = lazyllm.Thread(target=talk), threading.Thread(target=talk)
        for t in (lazy, plain):
            t.start()
            t.join(10)
        assert lazy.get_result() == "done"
        assert lazyllm.FileSystemQueue(session=sess).dequeue() == ["from the thread"]  # only lazyllm.Thread's
    assert lazyllm.FileSystemQueue().dequeue() == ["from the thread"]  # the plain thread's: the default session


def test_thread_mistakes_are_clear() -> None:
    t = lazyllm.Thread(target=lambda: 1)
    with pytest.raises(RuntimeError, match="was not started: call start\\(\\) before get_result"):
        t.get_result()
    slow = lazyllm.Thread(target=threading.Event().wait, args=(0.5,))
    slow.start()
    with pytest.raises(TimeoutError, match="did not finish within 0.05 s"):
        slow.get_result(0.05)
    assert slow.get_result(5) is False and slow.get_result() is False  # may be asked again
    with pytest.raises(TypeError, match="prehook=...\\) takes callables"):
        lazyllm.Thread(target=print, prehook=["not callable"])
    with pytest.raises(ValueError, match="local_scope must be 'isolated' or 'inherit'"):
        lazyllm.ThreadPoolExecutor(1, local_scope="everything")
