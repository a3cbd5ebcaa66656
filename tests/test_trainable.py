"""TrainableModule: launching a real local server process, health-checking it, streaming from it, stopping it."""

from __future__ import annotations

import os
import shlex
import socket
import sys
import time
from pathlib import Path

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.runtime.chat import ModelConfigError
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import session
from lazystream_widget.runtime.trainable import ServerStartError, TrainableModule

SERVE = f"{shlex.quote(sys.executable)} -m lazystream_widget.testing serve --port {{port}}"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_scripted_starts_a_server_process_streams_and_stops() -> None:
    llm = TrainableModule("scripted", stream=True)
    assert not llm.running
    try:
        assert llm.start() is llm  # chained, as in the seed
        pid = llm._proc.pid
        port = int(llm.base_url.rsplit(":", 1)[1].split("/")[0])
        assert llm.running and pid != os.getpid() and port_open(port)
        assert llm.base_url.startswith("http://127.0.0.1:")
        assert llm.start() is llm and llm._proc.pid == pid  # starting twice keeps the one server
        with session():
            answer = llm("hello")
            streamed = FileSystemQueue().dequeue()
        assert answer.startswith("Hello! I am the scripted demo model")  # the weather responder's greeting
        assert "".join(streamed) == answer and len(streamed) > 5
    finally:
        llm.stop()
    assert not llm.running
    assert gone(pid), "the server process is still alive after stop()"
    assert not port_open(port)
    llm.stop()  # idempotent
    with pytest.raises(ModelConfigError, match=r"not running: call \.start\(\) first"):
        llm("again")


def test_the_launch_command_comes_from_lazystream_trainable_cmd(monkeypatch) -> None:
    # through a shell, so that the server is a grandchild: stop() must end the whole process group
    monkeypatch.setenv("LAZYSTREAM_TRAINABLE_CMD", f"sh -c '{SERVE} --responder echo'")
    llm = TrainableModule("some-model").start()
    port = int(llm.base_url.rsplit(":", 1)[1].split("/")[0])
    try:
        with session():
            assert llm("hi") == "You said: hi"  # the echo responder: our command ran, not the default
    finally:
        llm.stop()
    deadline = time.monotonic() + 5
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_open(port), "the server started by the shell survived stop()"


def test_the_launch_cmd_argument_fills_model_and_port(tmp_path: Path) -> None:
    seen = tmp_path / "argv.txt"
    # a wrapper that records its arguments, then serves
    cmd = (f"sh -c 'echo \"$0 $1\" > {seen}; exec {SERVE} --responder echo' {{model}} {{port}}")
    llm = TrainableModule("my/model-7b", launch_cmd=cmd).start()
    try:
        model, port = seen.read_text().split()
        assert model == "my/model-7b" and llm.base_url == f"http://127.0.0.1:{port}/v1"
    finally:
        llm.stop()


def test_an_unknown_model_with_no_server_says_what_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither vllm nor llama-server
    with pytest.raises(ServerStartError) as info:
        TrainableModule("internlm2-chat-20b", stream=True).start()
    message = str(info.value)
    assert "pip install vllm" in message and "llama-server" in message
    assert "LAZYSTREAM_TRAINABLE_CMD" in message and "{port}" in message


def test_a_command_that_exits_at_once_reports_its_output() -> None:
    code = "import sys; print('loading weights'); print('error: model file /models/x.gguf not found'); sys.exit(3)"
    llm = TrainableModule("x", launch_cmd=[sys.executable, "-c", code])
    t0 = time.monotonic()
    with pytest.raises(ServerStartError, match="exited with code 3") as info:
        llm.start()
    assert time.monotonic() - t0 < 10  # noticed at once, not after the start timeout
    assert "model file /models/x.gguf not found" in str(info.value)
    assert not llm.running
    # a failed start leaves nothing open behind it (the server's log file included)
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(ServerStartError):
            llm.start()
    # other tests' objects may be collected meanwhile (fewer fds), but a leak would add 3 or more
    assert len(os.listdir("/proc/self/fd")) <= fds


def test_a_missing_program_is_a_server_start_error() -> None:
    with pytest.raises(ServerStartError, match="not found"):
        TrainableModule("x", launch_cmd="no-such-program-lazystream --port {port}").start()


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    llm = TrainableModule("x", launch_cmd=["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"], start_timeout=1.0)
    with pytest.raises(ServerStartError, match="did not answer .* within 1 s"):
        llm.start()
    assert not llm.running
    assert gone(int(pidfile.read_text())), "the silent server was left running"


def test_calling_before_start_is_a_clear_error() -> None:
    llm = TrainableModule("scripted", stream=True)
    with session():
        with pytest.raises(ModelConfigError, match=r"not running: call \.start\(\) first"):
            llm("hi")
        with pytest.raises(ModelConfigError, match="start"):
            llm.chat([{"role": "user", "content": "hi"}])


def test_seed_spelling_works_with_the_package_namespace() -> None:
    assert lazyllm.TrainableModule is TrainableModule
    with pytest.raises(ModelConfigError, match="has no base_model to serve"):
        TrainableModule("").start()


def test_lazyllm_signature_never_misbinds_a_path_as_stream() -> None:
    llm = TrainableModule("my-model", "out/weights")
    assert (llm.base_model, llm.target_path, llm.stream, llm.return_trace) == ("my-model", "out/weights", False, False)
    with pytest.raises(TypeError, match="positional argument"):
        TrainableModule("my-model", "out/weights", True)  # type: ignore[misc]
    with pytest.raises(ModelConfigError, match="to stream, pass stream=True by name"):
        TrainableModule("my-model", True)  # type: ignore[arg-type]
    streaming = TrainableModule("my-model", stream=True, return_trace=True)
    assert streaming.stream and streaming.return_trace and streaming.target_path == ""
    assert TrainableModule().base_model == "" and TrainableModule().name == "TrainableModule"
