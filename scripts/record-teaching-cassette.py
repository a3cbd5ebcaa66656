#!/usr/bin/env python
"""Record notebooks/cassettes/07-deepseek-weather.json, the cassette of notebooks/07-recorded-runs.ipynb.

    python scripts/record-teaching-cassette.py            # the reconstruction (no key, no network)
    python scripts/record-teaching-cassette.py --real     # DeepSeek itself (needs LAZYSTREAM_DEEPSEEK_API_KEY)

Without ``--real`` no provider is called: the embedded scripted server streams in DeepSeek's
documented chunk layout (``lazystream_widget.testing.providers.deepseek_style``: a keep-alive
comment, ``reasoning_content`` deltas, two parallel tool calls with argument fragments, usage in
the last chunk, ``[DONE]``), and the cassette proxy records it as if it were
https://api.deepseek.com/v1 (``redirect``). The run itself is the notebook's: the same module,
agent, tools and question, through the same proxy a real recording uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CASSETTE = REPO / "notebooks" / "cassettes" / "07-deepseek-weather.json"
DEEPSEEK = "https://api.deepseek.com/v1"
QUERY = "What's the weather like today in celsius in Tokyo and Paris?"

NOTE = (
    "Not a real DeepSeek response. Recorded through the lazystream cassette proxy from a stream that "
    "lazystream_widget.testing.providers.deepseek_style reconstructs from DeepSeek's documented streaming "
    "format (reasoning_content deltas, parallel tool calls with argument deltas, usage in the last chunk), "
    "served by the embedded scripted model and recorded as https://api.deepseek.com/v1. "
    "Made with: python scripts/record-teaching-cassette.py"
)


def think(request: dict[str, Any]) -> str:
    """The reasoning the reconstruction streams before each answer (written like a reasoning model's)."""
    if any(m.get("role") == "tool" for m in request.get("messages") or []):
        return ("Both tool results are back. Tokyo reports 10 degrees and Paris 22 degrees, both in Celsius, "
                "as the user asked. I'll give the two readings in one short sentence.")
    return ("Okay, the user wants today's weather for two cities, Tokyo and Paris, in Celsius. "
            "I have a get_current_weather tool that takes a location and a unit. The two lookups don't depend "
            "on each other, so I can call the tool for both cities at once, with the unit set to celsius.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="record DeepSeek itself (needs the key)")
    parser.add_argument("--output", type=Path, default=CASSETTE, help=f"default: {CASSETTE.relative_to(REPO)}")
    args = parser.parse_args()

    import lazystream_widget as lazyllm
    import lazystream_widget.demo
    from lazystream_widget.testing import ScriptedServer, weather_responder
    from lazystream_widget.testing.providers import deepseek_style
    from lazystream_widget.tools import FunctionCallAgent

    server = None
    redirect: dict[str, str] = {}
    note = "Recorded from DeepSeek's API." if args.real else NOTE
    if not args.real:
        server = ScriptedServer(responder=deepseek_style(weather_responder, think=think)).start()
        redirect = {DEEPSEEK: server.base_url}
        os.environ.setdefault("LAZYSTREAM_DEEPSEEK_API_KEY", "sk-reconstruction-not-a-real-key-000000")
    try:
        with lazyllm.cassette(args.output, "record", redirect=redirect, note=note):
            llm = lazyllm.OnlineChatModule(source="deepseek", model="deepseek-reasoner", stream=True)
            agent = FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"])
            run = lazyllm.Run(agent, QUERY).start()
            print(run.wait(120))
    finally:
        if server is not None:
            server.stop()
    print(f"written: {args.output} ({args.output.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
