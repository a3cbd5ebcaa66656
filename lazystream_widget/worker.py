"""Running a module where it should run, for a notebook elsewhere to watch: the worker side.

In a script (a cluster job, a container, a worker pool)::

    import lazystream_widget as lsw
    run = lsw.start_run(agent, "What's the weather in Tokyo?")   # streams into a session
    print(run.session_id)          # hand it to the notebook: StreamView.attach(session_id)
    run.wait()

or from a shell::

    LAZYSTREAM_QUEUE=redis://queue-host:6379/0 python -m lazystream_widget.worker my_agents:agent "question"

The command prints ``session <id>`` on stderr first, then the answer on stdout as it streams,
and exits 0 (done), 1 (error) or 130 (interrupted). With ``--session ID`` or ``LAZYSTREAM_SESSION``
it streams into an existing session (one the notebook made, say) instead of a fresh one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, Callable

from .runner import Run
from .runtime.session import SESSION_ENV, Session


def start_run(module: Callable[[Any], Any], query: Any, *, session_id: str | None = None) -> Run:
    """Start ``module(query)`` in this process, streaming into a session watchers can attach to.

    ``session_id`` (default: ``LAZYSTREAM_SESSION`` if set): an existing session to stream into;
    otherwise a fresh one, closed when the run ends (with Redis it stays readable until it expires).
    The run writes its run-start and run-end markers, so ``StreamView.attach`` shows the query and
    how the run ended. Returns the :class:`~lazystream_widget.Run` handle (``session_id``, ``wait()``...).
    """
    if not callable(module):
        raise TypeError(f"start_run needs something callable on a query, got {type(module).__name__}")
    session_id = session_id or os.environ.get(SESSION_ENV) or None
    session = Session(session_id) if session_id else None
    return Run(module, query).start(None, session=session)


class _PrintSink:
    """Prints the answer as it streams (stdout) and notices (stderr): a worker's log."""

    def run_started(self, run: Run) -> None:
        pass

    def run_delta(self, run: Run, text: str, thinking: str, entries: list) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
        for notice in run.take_new_notices():
            print(f"[notice] {notice}", file=sys.stderr, flush=True)

    def run_finished(self, run: Run) -> None:
        pass


def _load(target: str) -> Callable[[Any], Any]:
    mod_name, sep, attr = target.partition(":")
    if not sep or not mod_name or not attr:
        raise SystemExit(f"worker: expected MODULE:ATTRIBUTE (e.g. my_agents:agent), got {target!r}")
    sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lazystream_widget.worker",
        description="Run MODULE:ATTRIBUTE on QUERY here, streaming into a session a notebook can watch "
                    "(StreamView.attach). The queue backend comes from LAZYSTREAM_QUEUE.",
    )
    parser.add_argument("target", help="what to run, as module:attribute (e.g. my_agents:agent)")
    parser.add_argument("query", help="the query to run it on")
    parser.add_argument("--session", default=None, help=f"an existing session id to stream into (else ${SESSION_ENV} "
                                                        "or a fresh session)")
    args = parser.parse_args(argv)
    module = _load(args.target)
    session_id = args.session or os.environ.get(SESSION_ENV) or None
    session = Session(session_id) if session_id else None
    run = Run(module, args.query)
    run.start(_PrintSink(), session=session)
    print(f"session {run.session_id}", file=sys.stderr, flush=True)
    try:
        run.wait()
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        print(f"\nrun {run.status}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
