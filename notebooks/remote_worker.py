"""A worker for ``08-remote-runs.ipynb``: runs the weather agent here and streams into a session that a
notebook anywhere can watch (``StreamView.attach``).

    LAZYSTREAM_QUEUE=redis://queue-host:6379/0 python remote_worker.py "What's the weather in Tokyo?"

It prints ``session <id>`` first, then the answer when the run ends. Given ``LAZYSTREAM_SESSION`` it
streams into that session (one the notebook made) instead of a fresh one. With no model endpoint
configured (``LAZYSTREAM_OPENAI_*``) it starts the embedded scripted model for itself.
"""

import sys

import lazystream_widget as lsw
import lazystream_widget.demo  # noqa: F401  (registers the seed's two weather tools)
from lazystream_widget.testing import ScriptedServer, weather_responder
from lazystream_widget.tools import FunctionCallAgent


def main(query: str) -> int:
    server = None
    try:
        llm = lsw.OnlineChatModule(stream=True)
    except lsw.ModelConfigError:
        server = ScriptedServer(responder=weather_responder, token_delay=0.02).start()
        llm = lsw.OnlineChatModule(stream=True, base_url=server.base_url, model="scripted")
    agent = FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"])
    try:
        run = lsw.start_run(agent, query)
        print(f"session {run.session_id}", flush=True)
        print(run.wait(), flush=True)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
