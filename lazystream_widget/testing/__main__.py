"""``python -m lazystream_widget.testing serve``: run the scripted model server as a process.

Prints exactly one line, ``READY http://127.0.0.1:PORT/v1``, once it listens (so a
parent process or a notebook can read the address from stdout), then serves until
SIGTERM or SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .script import as_reply
from .server import Responder, ScriptedServer, is_loopback
from .weather import echo_responder, weather_responder

RESPONDERS: dict[str, Responder | None] = {"weather": weather_responder, "echo": echo_responder, "none": None}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lazystream_widget.testing",
        description="Run the scripted OpenAI-compatible model server as a process: it prints one line, "
                    "READY http://127.0.0.1:PORT/v1, once it listens, then serves until SIGTERM or SIGINT.",
        epilog="example: python -m lazystream_widget.testing serve --port 0 --token-delay 0.02")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the scripted OpenAI-compatible model on loopback")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    serve.add_argument(
        "--responder",
        choices=sorted(RESPONDERS),
        default="weather",
        help="answers requests once the script is used up (default weather; none: fail them with HTTP 500)",
    )
    serve.add_argument("--token-delay", type=float, default=0.0, metavar="SECONDS", help="pause before each delta")
    serve.add_argument("--script", type=Path, metavar="FILE.json", help="JSON list of replies (strings or dicts)")
    return parser


def _load_script(parser: argparse.ArgumentParser, path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise TypeError("the file must hold a JSON list of replies")
        return [as_reply(item) for item in data]
    except (OSError, ValueError, TypeError) as exc:
        parser.error(f"--script {path}: {exc}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(
            f"refusing to listen on non-loopback host {args.host!r}: the scripted server has no authentication; "
            "use 127.0.0.1"
        )
    script = _load_script(parser, args.script) if args.script else None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = ScriptedServer(
        script, RESPONDERS[args.responder], host=args.host, port=args.port, token_delay=args.token_delay
    )
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"READY {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
