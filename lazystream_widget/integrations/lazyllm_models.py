"""The online models inside a LazyLLM module, and what a cassette in force means for them.

LazyLLM 1.4.0's ``OnlineChatModule`` talks HTTP with ``requests`` to its own base URL: no hook
of ours reaches inside it, so a cassette covers it only when the module was built with
``url=cassette.url(...)``. Before a run, the LazyLLM adapter looks at the models inside the
module it was given (LazyLLM's public ``submodules`` and a flow's items) and:

* a model routed through a cassette: the run says so ("Replaying recorded model traffic from
  cassette ..."), and a request that cassette cannot answer becomes the run's error with the
  cassette's explanation (LazyLLM itself only reports "HTTP status 404");
* a model that is not, while a cassette is in force for the run: in replay mode the run fails
  at once (replay never reaches the network), in record mode a notice says its traffic is
  not recorded. Both say how to route it.

The model's base URL is LazyLLM's ``_base_url`` (not public; pinned to the supported version
and covered by tests/test_cassette_lazyllm.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable

#: At most this many objects are looked at inside one module (a guard against odd object graphs).
_MAX_OBJECTS = 2000


@dataclass(frozen=True)
class ChatModel:
    name: str  # the model module's name in LazyLLM (what its span is called)
    url: str  # its base URL


def chat_models(module: Any) -> list[ChatModel]:
    """LazyLLM's online chat modules inside ``module`` (itself included), in a stable order."""
    found: list[ChatModel] = []
    seen: set[int] = set()
    stack = [module]
    while stack and len(seen) < _MAX_OBJECTS:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        url = _base_url(obj)
        if url is not None:
            found.append(ChatModel(str(getattr(obj, "name", None) or type(obj).__name__), url))
        children: list[Any] = []
        for attr in ("submodules", "_items"):  # modules (agents included) and flows
            try:
                value = getattr(obj, attr, None)
            except Exception:  # a property that fails: nothing below it to look at
                value = None
            if isinstance(value, (list, tuple)):
                children.extend(value)
        inner = getattr(obj, "_f", None)  # a flow's wrapped callable (_FuncWrap)
        if inner is not None:
            children.append(inner)
        stack.extend(c for c in reversed(children) if _is_lazyllm(c))
    return found


def _is_lazyllm(obj: Any) -> bool:
    return (getattr(type(obj), "__module__", "") or "").startswith("lazyllm")


def _base_url(obj: Any) -> str | None:
    if not any(c.__name__ == "LazyLLMOnlineChatModuleBase" for c in type(obj).__mro__):
        return None
    try:
        url = obj._base_url
    except Exception:
        return None
    return url if isinstance(url, str) and url else None


def check_cassettes(module: Any, notify: Callable[[str], None]) -> list[Any]:
    """Before a run: what the cassettes mean for ``module``'s models (see the module docstring).

    Returns the cassette tapes its models' requests go to (to explain a failed replay); raises
    :class:`~lazystream_widget.cassettes.CassetteError` for a replay that would reach the network.
    """
    proxy_module = sys.modules.get("lazystream_widget.cassettes.proxy")
    models = chat_models(module)
    if not models:
        return []
    from ..cassettes.activation import active
    from ..cassettes.cassette import announcement
    from ..cassettes.errors import CassetteError

    cassette = active()
    tapes = []
    for model in models:
        route = proxy_module.get_proxy().route_of(model.url) if proxy_module is not None else None
        if route is not None:
            if route.tape not in tapes:
                tapes.append(route.tape)
            notify(announcement(route.tape.cassette))
            continue
        if cassette is None:
            continue
        how = (f"build it with url=cassette.url({model.url!r}) (LazyLLM's OnlineChatModule(..., url=...)) so that "
               "the cassette answers it")
        if cassette.mode == "replay":
            raise CassetteError(
                f"cassette {cassette.name!r} replays (replay mode never reaches the network), but LazyLLM model "
                f"{model.name!r} sends its requests straight to {model.url}, past the cassette: {how}. "
                "See docs/cassettes.md, 'Other clients'."
            )
        notify(f"Cassette {cassette.name} is recording, but LazyLLM model {model.name!r} sends its requests "
               f"straight to {model.url}: they are not recorded. To record them, {how}.")
    return tapes


def replay_failure(tapes: list[Any], since: float) -> BaseException | None:
    """The first request a cassette could not answer for this run (LazyLLM reported it as an HTTP 404)."""
    for tape in tapes:
        failures = tape.failures_since(since)
        if failures:
            return failures[0]
    return None
