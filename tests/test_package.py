"""The package surface: a light import, every public name resolves, the seed's names are there."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lazystream_widget

HEAVY = ("openai", "ipywidgets", "anywidget", "httpx", "ipykernel")


def modules_after(code: str, child_env) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", probe], env=child_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_package_imports_no_heavy_dependency(child_env) -> None:
    assert modules_after("import lazystream_widget", child_env) == []


def test_the_seed_loop_alone_needs_no_heavy_dependency(child_env) -> None:
    code = """
import lazystream_widget as lazyllm
def produce():
    q = lazyllm.FileSystemQueue()
    for t in ("a", "b"):
        q.enqueue(t)
    return "ok"
out = []
with lazyllm.ThreadPoolExecutor(1) as executor:
    future = executor.submit(produce)
    while True:
        if value := lazyllm.FileSystemQueue().dequeue():
            out += value
        elif future.done():
            break
assert out == ["a", "b"] and future.result() == "ok", out
"""
    assert modules_after(code, child_env) == []


@pytest.mark.parametrize("name", lazystream_widget.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(lazystream_widget, name) is not None


def test_dir_and_unknown_names() -> None:
    assert set(dir(lazystream_widget)) == set(lazystream_widget.__all__)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        lazystream_widget.NoSuchThing  # noqa: B018


def test_the_seeds_names_exist() -> None:
    import lazystream_widget as lazyllm
    from lazystream_widget.runtime.agent import FunctionCallAgent as agent_class
    from lazystream_widget.tools import FunctionCallAgent, fc_register

    for name in ("FileSystemQueue", "ThreadPoolExecutor", "OnlineChatModule", "TrainableModule", "ModuleBase",
                 "pipeline", "parallel", "fc_register", "FunctionCallAgent"):
        assert callable(getattr(lazyllm, name)), name
    assert FunctionCallAgent is agent_class and callable(fc_register)
    queue = lazyllm.FileSystemQueue()
    for method in ("get_instance", "enqueue", "dequeue", "peek", "size", "clear"):
        assert callable(getattr(queue, method)), method
    assert isinstance(queue.get_instance("lazy_trace"), lazyllm.FileSystemQueue)
    import concurrent.futures

    assert issubclass(lazyllm.ThreadPoolExecutor, concurrent.futures.ThreadPoolExecutor)
    assert lazystream_widget.__version__
