"""``TrainableModule(base_model).start()``: a model served by a local OpenAI-compatible server we launch.

The signature is LazyLLM 1.4.0's, ``TrainableModule(base_model='', target_path='', *, stream=False,
return_trace=False, ...)``, so ``TrainableModule(model, path)`` binds the path to ``target_path`` (where
LazyLLM keeps fine-tuned weights; kept here as given, since fine-tuning is not part of this package) and
``stream`` can only be given by name.

How the server is launched, first match wins:

1. ``launch_cmd=`` argument, or the ``LAZYSTREAM_TRAINABLE_CMD`` environment variable: a
   command line with ``{model}`` and ``{port}`` placeholders (e.g.
   ``"vllm serve {model} --port {port}"``);
2. the model name ``"scripted"``: the embedded scripted model server (demos, tests);
3. ``vllm`` on PATH: ``vllm serve {model} --host 127.0.0.1 --port {port}`` (best effort);
4. ``llama-server`` (llama.cpp) on PATH: ``llama-server -m {model} --host 127.0.0.1 --port {port}`` (best effort).

``start()`` waits until ``GET /v1/models`` answers, ``stop()`` terminates the process
(and its children), and an interpreter exit stops it too.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from typing import Any

from ..limits import TRAINABLE_START_TIMEOUT_S
from .chat import ChatModuleBase, ModelConfigError

TRAINABLE_CMD_ENV = "LAZYSTREAM_TRAINABLE_CMD"
_running: weakref.WeakSet[TrainableModule] = weakref.WeakSet()


class ServerStartError(RuntimeError):
    """The local model server could not be started or did not become healthy."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TrainableModule(ChatModuleBase):
    """A local model: call ``.start()`` to launch its server, then use it like ``OnlineChatModule``.

    Args:
        base_model: the model to serve (a name or path the server understands; ``"scripted"`` for the
            embedded scripted model). Required by :meth:`start`.
        target_path: LazyLLM's directory for fine-tuned weights; kept as given (no fine-tuning here).
        stream: push answer deltas to the answer queue as they arrive.
        return_trace: write an ``llm`` span per call.
        launch_cmd: the server's command line with ``{model}`` and ``{port}`` placeholders.
        port: the port to serve on (default: a free one).
        start_timeout: seconds to wait for the server to become healthy.
    """

    def __init__(
        self,
        base_model: str = "",
        target_path: str = "",
        *,
        stream: bool = False,
        return_trace: bool = False,
        launch_cmd: str | list[str] | None = None,
        port: int | None = None,
        start_timeout: float = TRAINABLE_START_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        if not isinstance(base_model, str):
            raise ModelConfigError(f"TrainableModule(base_model=...) is a model name or path (a str), got "
                                   f"{type(base_model).__name__} {base_model!r}")
        if not isinstance(target_path, str):
            raise ModelConfigError(f"TrainableModule(target_path=...) is a directory (a str), got "
                                   f"{type(target_path).__name__} {target_path!r}; to stream, pass stream=True by name")
        super().__init__(base_model, base_url=None, api_key="not-needed", stream=stream, return_trace=return_trace,
                         **kwargs)
        self.target_path = target_path
        self.launch_cmd = launch_cmd
        self.port = port
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def base_model(self) -> str:
        return self.model

    @property
    def name(self) -> str:
        return self._name or self.model or "TrainableModule"

    @name.setter
    def name(self, name: str | None) -> None:
        self._name = name

    # LazyLLM spells it .start(); chained: TrainableModule(...).start()
    def start(self) -> TrainableModule:
        """Launch the server and wait until it answers. Returns self."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        if not self.model:
            raise ModelConfigError("TrainableModule() has no base_model to serve: pass a model name or path, e.g. "
                                   "TrainableModule('Qwen/Qwen2.5-0.5B-Instruct', stream=True).start(), or "
                                   "TrainableModule('scripted') for the embedded scripted model")
        port = self.port or _free_port()
        argv = self._command(port)
        # a file, not a pipe: a chatty server (vLLM logs a lot) would block on a full pipe
        self._log = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends its children too
            )
        except FileNotFoundError as exc:
            raise ServerStartError(f"cannot launch the model server: {argv[0]!r} not found ({exc})") from exc
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self._client_obj = None
        _running.add(self)
        self._wait_healthy()
        return self

    def _command(self, port: int) -> list[str]:
        cmd = self.launch_cmd or os.environ.get(TRAINABLE_CMD_ENV)
        if cmd:
            parts = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
            return [p.replace("{model}", self.model).replace("{port}", str(port)) for p in parts]
        if self.model == "scripted":
            return [sys.executable, "-m", "lazystream_widget.testing", "serve", "--port", str(port),
                    "--responder", "weather"]
        if shutil.which("vllm"):
            return ["vllm", "serve", self.model, "--host", "127.0.0.1", "--port", str(port)]
        if shutil.which("llama-server"):
            return ["llama-server", "-m", self.model, "--host", "127.0.0.1", "--port", str(port)]
        raise ServerStartError(
            f"TrainableModule({self.model!r}) needs a local OpenAI-compatible server and none was found: "
            f"install vLLM (pip install vllm) or llama.cpp's llama-server, or set {TRAINABLE_CMD_ENV} to a "
            "command line with {model} and {port}, or use OnlineChatModule(base_url=...) for a running server; "
            "TrainableModule('scripted') runs the embedded scripted model"
        )

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._log.seek(0)
                err = self._log.read()[-8192:].decode(errors="replace")
                tail = "\n".join(err.strip().splitlines()[-8:])
                self._proc = None
                raise ServerStartError(f"the model server for {self.model!r} exited with code {code}:\n{tail}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(
            f"the model server for {self.model!r} did not answer {url} within {self.start_timeout:g} s"
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _running.discard(self)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _chat(self, messages, tools=None, **kw):
        if not self.running:
            raise ModelConfigError(
                f"TrainableModule({self.model!r}) is not running: call .start() first "
                "(e.g. llm = TrainableModule(name, stream=True).start())"
            )
        return super()._chat(messages, tools, **kw)


@atexit.register
def _stop_all() -> None:
    for module in list(_running):
        module.stop()
