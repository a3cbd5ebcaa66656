"""What our agents share with LazyLLM's constructors: the ``stream`` switch and the options they do not have.

LazyLLM's agents take many options for features this package leaves out (skills, sandboxes, workspaces,
file systems, history compaction...). Code written for LazyLLM may pass them at their default values
(``enable_builtin_tools=True``, ``skills=None``, ...); that is accepted, since it asks for nothing. A
value that asks for the feature is a clear ``TypeError`` naming it, never silently ignored.
"""

from __future__ import annotations

import copy
from typing import Any

#: LazyLLM agent options this package does not have, with the value that asks for nothing.
LAZYLLM_ONLY_OPTIONS: dict[str, Any] = {
    "return_last_tool_calls": False,
    "skills": None,
    "workspace": None,
    "sandbox": None,
    "fs": None,
    "skills_dir": None,
    "keep_full_turns": 0,
    "extra_stop_condition": None,
    "on_max_retries": None,
    "history_compactor": None,
    "runtime_observer": None,
    "model_context_provider": None,
    "prompt_skills": None,
    "excluded_skills": None,
    "skill_search": None,
    "skill_tool_mode": "full",
    "before_model_request": None,
}


def check_lazyllm_options(agent: str, options: dict[str, Any]) -> None:
    """Refuse options we do not have (unknown names, or LazyLLM-only features asked for)."""
    unknown = sorted(k for k in options if k not in LAZYLLM_ONLY_OPTIONS and k != "enable_builtin_tools")
    if unknown:
        raise TypeError(f"{agent}() got unexpected keyword argument(s) {unknown}")
    asked = sorted(k for k, v in options.items() if k in LAZYLLM_ONLY_OPTIONS and v != LAZYLLM_ONLY_OPTIONS[k])
    if asked:
        raise TypeError(f"{agent}({', '.join(f'{k}=...' for k in asked)}): LazyLLM's "
                        f"{', '.join(asked)} {'is' if len(asked) == 1 else 'are'} not part of lazystream-widget "
                        f"(skills, sandboxes, workspaces and history compaction are out of its scope); remove "
                        f"{'it' if len(asked) == 1 else 'them'}")
    # enable_builtin_tools: either value is fine; the model only ever sees the tools you pass.


def with_stream(llm: Any, stream: bool | None) -> Any:
    """``llm`` as the agent should call it: as configured (``stream=None``), or a copy streaming or not.

    LazyLLM's agents decide streaming with their own ``stream`` flag (default off); ours follow the model's
    ``stream`` unless the agent is given one, so the seed's ``OnlineChatModule(stream=True)`` streams.
    """
    if stream is None or bool(stream) == bool(getattr(llm, "stream", False)):
        return llm
    copied = copy.copy(llm)
    copied.stream = bool(stream)
    return copied
