"""pipeline and parallel: order, argument passing, the with-block form, tracing and errors."""

from __future__ import annotations

import threading
import time

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.runtime.flow import parallel, pipeline
from lazystream_widget.runtime.module import ModuleBase
from lazystream_widget.runtime.session import session


def add_one(x: int) -> int:
    return x + 1


def double(x: int) -> int:
    return 2 * x


def split(x: int) -> tuple[int, int]:
    return x, x + 10


def add(a: int, b: int) -> int:
    return a + b


class Square(ModuleBase):
    def forward(self, x: int) -> int:
        return x * x


def test_pipeline_runs_stages_in_order() -> None:
    assert pipeline(add_one, double)(3) == 8
    assert pipeline(double, add_one)(3) == 7
    assert pipeline(add_one)(1) == 2
    assert pipeline(add_one, Square(), double)(2) == 18


def test_a_tuple_result_is_spread_over_the_next_stage() -> None:
    assert pipeline(split, add)(1) == 12
    assert pipeline(lambda: (2, 3), add)() == 5  # the first stage gets the call's own arguments


def test_a_pipeline_is_built_in_a_with_block() -> None:
    with pipeline() as p:
        p.first = add_one
        p.second = double
        p.third = Square()
    assert len(p) == 3 and p.stages[0] is add_one
    assert p(1) == 16
    p.note = "after the block"  # a plain attribute once the block is closed
    assert len(p) == 3 and p.note == "after the block"


def test_flows_refuse_what_they_cannot_run() -> None:
    with pytest.raises(TypeError, match="stage 'x' is not callable"):
        with pipeline() as p:
            p.x = 42
    with pytest.raises(ValueError, match="pipeline has no stages"):
        pipeline()(1)
    with pytest.raises(ValueError, match="parallel has no branches"):
        parallel()(1)


def test_parallel_returns_a_tuple_in_branch_order() -> None:
    assert parallel(add_one, double, Square())(5) == (6, 10, 25)
    assert pipeline(parallel(add_one, double), add)(3) == 10  # (4, 6) spread into add


def test_parallel_branches_run_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def branch(x: int) -> int:
        barrier.wait()  # returns only if all three run at once
        return x

    assert parallel(branch, branch, branch)(7) == (7, 7, 7)


def test_a_traced_pipeline_shows_every_stage(read_trace, spans) -> None:
    with session():
        assert pipeline(add_one, Square(), double, return_trace=True, name="calc")(2) == 18
        entries = read_trace()
    tree = spans(entries)
    starts = [s["start"] for s in tree.values()]
    (flow,) = [s for s in starts if s["kind"] == "flow"]
    assert flow["name"] == "calc" and flow["input"] == 2 and flow["parent"] is None
    stages = sorted((s for s in starts if s is not flow), key=lambda s: s["seq"])
    assert [(s["name"], s["kind"], s["input"]) for s in stages] == [
        ("add_one", "module", 2), ("Square", "module", 3), ("double", "module", 9)]
    assert all(s["parent"] == flow["span"] for s in stages)
    assert [tree[s["span"]]["end"]["output"] for s in stages] == [3, 9, 18]
    assert tree[flow["span"]]["end"]["output"] == 18


def test_parallel_branch_spans_are_siblings_under_the_flow_span(read_trace, spans) -> None:
    def slow_a(x: int) -> str:
        time.sleep(0.1)
        return f"a{x}"

    def slow_b(x: int) -> str:
        time.sleep(0.1)
        return f"b{x}"

    with session():
        with lazyllm.ThreadPoolExecutor(1) as pool:  # the flow runs inside a pool task, as a runner would
            assert pool.submit(parallel(slow_a, slow_b, return_trace=True), 1).result() == ("a1", "b1")
        tree = spans(read_trace())
    starts = {s["start"]["name"]: s["start"] for s in tree.values()}
    assert set(starts) == {"parallel", "slow_a", "slow_b"}
    flow = starts["parallel"]
    assert flow["kind"] == "flow"
    assert starts["slow_a"]["parent"] == starts["slow_b"]["parent"] == flow["span"]
    assert tree[flow["span"]]["end"]["output"] == ["a1", "b1"]
    # they overlapped: both started before either ended
    first_end = min(tree[starts[n]["span"]]["end"]["seq"] for n in ("slow_a", "slow_b"))
    assert starts["slow_a"]["seq"] < first_end and starts["slow_b"]["seq"] < first_end


def test_a_stage_exception_ends_its_span_with_error_and_propagates(read_trace, spans) -> None:
    def broken(x: int) -> int:
        raise ZeroDivisionError("stage two divided by zero")

    with session():
        with pytest.raises(ZeroDivisionError, match="divided by zero"):
            pipeline(add_one, broken, double, return_trace=True)(1)
        with pytest.raises(ZeroDivisionError):
            parallel(add_one, broken, return_trace=True)(1)
        tree = spans(read_trace())
    ends = {(s["start"]["name"], s["start"]["kind"]): s["end"] for s in tree.values()}
    assert ends[("broken", "module")]["status"] == "error"
    assert ends[("broken", "module")]["error"]["message"] == "stage two divided by zero"
    assert all(e is not None for e in ends.values())
    flows = [s["end"] for s in tree.values() if s["start"]["kind"] == "flow"]
    assert len(flows) == 2 and all(e["status"] == "error" for e in flows)
    assert ("double", "module") not in ends  # the pipeline stopped at the failing stage


def test_parallel_called_by_a_reading_thread_does_not_wait_for_itself() -> None:
    """A consumer that calls a flow directly: the branches' items are not waited for by the branches themselves."""

    def talk(x: int) -> int:
        lazyllm.FileSystemQueue().enqueue(f"branch {x}")
        return x

    with session():
        lazyllm.FileSystemQueue().dequeue()  # this thread is an active consumer of the answer queue
        t0 = time.monotonic()
        assert parallel(talk, talk)(1) == (1, 1)
        elapsed = time.monotonic() - t0
        assert lazyllm.FileSystemQueue().dequeue() == ["branch 1", "branch 1"]
    assert elapsed < 0.5, f"parallel() blocked {elapsed:.2f} s waiting for its caller to read"
