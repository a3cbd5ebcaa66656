"""Adapters that let the widget run code that is not ours: the one place that picks one.

A run is always "a callable run in a pool worker, under the run's own session, writing into our
queues" (answer, thinking, and trace entries). :func:`invoker_for` wraps what the user gave
``StreamView`` into such a callable, chosen here and nowhere else:

* our own modules (``ModuleBase``: models, agents, flows) write our queues themselves: as is;
* a LazyLLM object (module, flow, agent): :mod:`.lazyllm` reads LazyLLM's queue and spans;
* any other callable: :mod:`.otel` opens a root span for the run (when the OpenTelemetry SDK
  is installed) so the spans of instrumented code below it reach the tree live, and
  :mod:`.iterables` streams a returned iterator / openai ``Stream`` / async iterator into the
  answer.

Spans out (``run.to_otlp()``, live OTLP export) are in :mod:`.otlp`.
Nothing here imports ``lazyllm`` or ``opentelemetry`` until a run needs it.
"""

from __future__ import annotations

from typing import Any, Callable

Notify = Callable[[str], None]


def invoker_for(module: Callable[[Any], Any], notify: Notify | None = None) -> Callable[[Any], Any]:
    """The callable a run submits to the pool for ``module`` (called once per run, when it starts).

    ``notify(text)`` adds a one-line notice to the run (``run.add_notice``), e.g. why nothing streamed.
    """
    from ..runtime.module import ModuleBase

    if isinstance(module, ModuleBase):
        return module
    from .lazyllm import is_lazyllm_object

    if is_lazyllm_object(module):
        from .lazyllm import invoker

        return invoker(module, notify)
    return _foreign_invoker(module, notify)


def _name_of(fn: Any) -> str:
    return getattr(fn, "__name__", None) or getattr(fn, "name", None) or type(fn).__name__


def _foreign_invoker(fn: Callable[[Any], Any], notify: Notify | None) -> Callable[[Any], Any]:
    """Any callable: spans of instrumented code below it reach the tree; a returned stream is streamed."""
    from . import iterables

    name = _name_of(fn)

    def run_callable(query: Any) -> Any:
        from . import otel

        if not otel.sdk_available():
            return iterables.consume(fn(query))
        problem = otel.ensure_processor(install_provider=True)
        if problem is not None:
            if notify is not None:
                notify(f"OpenTelemetry spans are not shown: {problem}.")
            return iterables.consume(fn(query))
        from ..runtime.session import current_session

        target = otel.RunSpans(current_session().id)
        token = otel.activate(target)
        try:
            with otel.run_root_span(name, query, target):
                return iterables.consume(fn(query))
        finally:
            otel.release(target, token)

    run_callable.__name__ = name
    return run_callable
