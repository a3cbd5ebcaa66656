"""Flows on our side: clear errors when building or calling them wrong, and calls that must not wait on themselves.

What a flow computes is compared with real LazyLLM in tests/compat/; its spans are in tests/test_flow_trace.py.
"""

from __future__ import annotations

import time

import pytest

import lazystream_widget as lazyllm
from lazystream_widget import _0, bind, diverter, graph, package, parallel, pipeline, switch
from lazystream_widget.runtime.flow import BindError
from lazystream_widget.runtime.module import ModuleBase
from lazystream_widget.runtime.session import session


def add_one(x: int) -> int:
    return x + 1


class Square(ModuleBase):
    def forward(self, x: int) -> int:
        return x * x


def test_every_lazyllm_flow_name_is_importable_where_lazyllm_has_it() -> None:
    import lazystream_widget.flow as flow

    for name in ("pipeline", "parallel", "diverter", "warp", "switch", "ifs", "loop", "graph", "barrier",
                 "save_pipeline_result", "FlowBase", "LazyLLMFlowsBase"):
        assert getattr(lazyllm, name) is getattr(flow, name), name
    for name in ("bind", "package", "kwargs", "arguments", "Identity", "ActionModule", "Thread", "globals", "locals",
                 *(f"_{i}" for i in range(10))):
        assert getattr(lazyllm, name) is not None, name
    assert lazyllm.pipeline is flow.Pipeline and lazyllm.flow is flow
    assert repr(lazyllm._3) == "_3" and lazyllm.Placeholder(3) is lazyllm._3


def test_building_mistakes_are_clear_errors() -> None:
    with pytest.raises(TypeError, match="stage 'x' is not callable .*int 42"):
        with pipeline() as p:
            p.x = 42
    with pytest.raises(ValueError, match="already has a stage named 'a'"):
        with pipeline() as p:
            p.a = add_one
            p.a = add_one
    with pytest.raises(RuntimeError, match="stage 'a' of .* can only be set inside its `with` block"):
        p.a = add_one
    with pytest.raises(ValueError, match="already has stages from its constructor"):
        with pipeline(add_one):
            pass
    with pytest.raises(TypeError, match="either positionally or by name, not both"):
        pipeline(add_one, b=add_one)
    with pytest.raises(TypeError, match="in pairs"):
        switch(lambda x: True)
    with pytest.raises(TypeError, match=r"sw.case\[cond::add_one\]"):
        with switch() as sw:
            sw.branch = add_one
    with pytest.raises(ValueError, match="choose one result form"):
        parallel(add_one).sum.aslist  # noqa: B018
    with pytest.raises(ValueError, match="count=...\\) is the most passes"):
        lazyllm.loop(add_one, count=0)
    with pytest.raises(AttributeError, match=r"no attribute 'missing' \(its named stages: \['a'\]\)"):
        pipeline(a=add_one).missing  # noqa: B018


def test_calling_mistakes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="has 2 branch\\(es\\) but got 3 input"):
        diverter(add_one, add_one)(1, 2, 3)
    with pytest.raises(ValueError, match="asdict needs every branch named"):
        parallel(add_one, add_one).asdict(1)
    with pytest.raises(IndexError, match=r"uses _1, but the stage got 1 input"):
        pipeline(add_one, bind(lambda a, b: a, _0, lazyllm._1))(1)
    with graph() as g:
        g.a = add_one
    g.add_edge("__start__", "a")
    with pytest.raises(ValueError, match="no edge into '__end__'"):
        g(1)
    with pytest.raises(KeyError, match="graph has no node 'b'"):
        g.add_edge("a", "b")


def test_a_reference_to_a_pipeline_that_is_not_running_says_so() -> None:
    with pipeline() as p:
        p.a = add_one
    other = pipeline(bind(lambda x, y: x, _0, p.input))
    with pytest.raises(BindError, match=r"refers to pipeline.input, but pipeline is not running around this call"):
        other(1)
    with pipeline() as q:
        q.a = bind(lambda x, later: later, _0, q.output("b"))
        q.b = add_one
    with pytest.raises(BindError, match="stage 'b' has not run yet"):
        q(1)


def test_a_stage_exception_propagates_unchanged_with_a_note_saying_where() -> None:
    def broken(x: int) -> int:
        raise ZeroDivisionError("stage two divided by zero")

    with pipeline() as outer:
        outer.prepare = add_one
        with pipeline() as outer.inner:
            outer.inner.divide = broken
    with pytest.raises(ZeroDivisionError, match="divided by zero") as info:
        outer(1)
    assert info.value.__notes__ == ["in stage 'divide' of pipeline 'inner'", "in stage 'inner' of a pipeline"]


def test_a_module_assigned_to_a_named_stage_takes_that_name_unless_it_has_one() -> None:
    with pipeline() as p:
        p.square = Square()
        p.kept = Square(name="mine")
    assert p.square.name == "square" and p.kept.name == "mine"
    assert p(2) == 16


def test_action_module_runs_its_stages_as_a_pipeline() -> None:
    action = lazyllm.ActionModule(add_one, pipeline(Square(), add_one))
    assert action(1) == 5
    assert [type(m).__name__ for m in action.submodules] == ["Square"]
    single = pipeline(add_one)
    assert lazyllm.ActionModule(single).action is single
    with pytest.raises(TypeError, match="needs something to run"):
        lazyllm.ActionModule()


def test_start_starts_the_modules_that_need_it_as_lazyllms_deploy_does() -> None:
    started: list[str] = []

    class Served(ModuleBase):
        def start(self) -> Served:
            started.append(self.name)
            return self

        def forward(self, x: int) -> int:
            return x

    flow = pipeline(Served(name="a"), parallel(Served(name="b"), add_one))
    assert flow.start() is flow and started == ["a", "b"]
    action = lazyllm.ActionModule(Served(name="c"))
    assert action.start() is action and started == ["a", "b", "c"]


def test_parallel_called_by_a_reading_thread_does_not_wait_for_itself() -> None:
    """A consumer that calls a flow directly: the branches' items are not waited for by the branches themselves."""

    def talk(x: int) -> int:
        lazyllm.FileSystemQueue().enqueue(f"branch {x}")
        return x

    with session():
        lazyllm.FileSystemQueue().dequeue()  # this thread is an active consumer of the answer queue
        t0 = time.monotonic()
        assert parallel(talk, talk)(1) == package(1, 1)
        elapsed = time.monotonic() - t0
        assert lazyllm.FileSystemQueue().dequeue() == ["branch 1", "branch 1"]
    assert elapsed < 0.5, f"parallel() blocked {elapsed:.2f} s waiting for its caller to read"


def test_barrier_waits_for_every_concurrent_branch() -> None:
    order: list[str] = []

    def slow(x: int) -> int:
        time.sleep(0.2)
        order.append("slow before")
        return x

    def fast(x: int) -> int:
        order.append("fast before")
        return x

    def after(x: int) -> int:
        order.append("after")
        return x

    p = parallel(pipeline(slow, lazyllm.barrier, after), pipeline(fast, lazyllm.barrier, after))
    assert p(3) == package(3, 3)
    assert order[-2:] == ["after", "after"] and set(order[:2]) == {"slow before", "fast before"}


def test_a_cancelled_run_starts_no_further_stage() -> None:
    import threading

    from lazystream_widget.runner import Run

    started: list[str] = []
    running = threading.Event()

    def slow(x: str) -> str:
        started.append("slow")
        running.set()
        time.sleep(0.5)
        return x

    def next_stage(x: str) -> str:
        started.append("next")
        return x

    run = Run(pipeline(slow, next_stage), "q").start()
    assert running.wait(10), "the first stage never started"
    run.cancel()
    with pytest.raises(lazyllm.RunCancelled):
        run.wait(10)
    assert started == ["slow"] and run.status == "cancelled"
