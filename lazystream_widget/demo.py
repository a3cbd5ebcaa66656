"""The seed's two examples, re-indented, with only the import lines changed.

``python -m lazystream_widget.demo`` runs them on the embedded scripted model (no API
key needed); with ``LAZYSTREAM_OPENAI_BASE_URL`` / ``LAZYSTREAM_OPENAI_API_KEY`` /
``LAZYSTREAM_OPENAI_MODEL`` (or ``OPENAI_*``) set it uses your endpoint instead.
By default the traced example is shown through :class:`~lazystream_widget.StreamConsole`: the
answer streams as flowing text and the trace prints as a tree. ``--raw`` prints exactly what the
seed's code prints (one queue item per line, trace entries as JSON); ``--form trainable`` uses the
``TrainableModule(...).start()`` form; ``--raw --example quick`` runs only the quick start.
"""
# ruff: noqa: E501, I001  -- the seed's code, kept as the seed wrote it
# --- the seed's tools (unchanged but for the import line) ---------------------------
from typing import Any, Literal
import json
from lazystream_widget.tools import fc_register

@fc_register("tool")
def get_current_weather(location: str, unit: Literal["fahrenheit", "celsius"]="fahrenheit"):
    """
    Get the current weather in a given location

    Args:
        location (str): The city and state, e.g. San Francisco, CA.
        unit (str): The temperature unit to use. Infer this from the users location.
    """
    if 'tokyo' in location.lower():
        return json.dumps({'location': 'Tokyo', 'temperature': '10', 'unit': 'celsius'})
    elif 'san francisco' in location.lower():
        return json.dumps({'location': 'San Francisco', 'temperature': '72', 'unit': 'fahrenheit'})
    elif 'paris' in location.lower():
        return json.dumps({'location': 'Paris', 'temperature': '22', 'unit': 'celsius'})
    elif 'beijing' in location.lower():
        return json.dumps({'location': 'Beijing', 'temperature': '90', 'unit': 'fahrenheit'})
    else:
        return json.dumps({'location': location, 'temperature': 'unknown'})

@fc_register("tool")
def get_n_day_weather_forecast(location: str, num_days: int, unit: Literal["celsius", "fahrenheit"]='fahrenheit'):
    """
    Get an N-day weather forecast

    Args:
        location (str): The city and state, e.g. San Francisco, CA.
        num_days (int): The number of days to forecast.
        unit (Literal['celsius', 'fahrenheit']): The temperature unit to use. Infer this from the users location.
    """
    if 'tokyo' in location.lower():
        return json.dumps({'location': 'Tokyo', 'temperature': '10', 'unit': 'celsius', "num_days": num_days})
    elif 'san francisco' in location.lower():
        return json.dumps({'location': 'San Francisco', 'temperature': '75', 'unit': 'fahrenheit', "num_days": num_days})
    elif 'paris' in location.lower():
        return json.dumps({'location': 'Paris', 'temperature': '25', 'unit': 'celsius', "num_days": num_days})
    elif 'beijing' in location.lower():
        return json.dumps({'location': 'Beijing', 'temperature': '85', 'unit': 'fahrenheit', "num_days": num_days})
    else:
        return json.dumps({'location': location, 'temperature': 'unknown'})


def quick_start(form: str = "online") -> None:
    # --- the seed's "Stream Quick Start" ---------------------------------------------
    import lazystream_widget as lazyllm
    from lazystream_widget.tools import FunctionCallAgent

    if form == "trainable":
        llm = lazyllm.TrainableModule("internlm2-chat-20b", stream=True).start()
    else:
        llm = lazyllm.OnlineChatModule(stream=True)
    tools = ["get_current_weather", "get_n_day_weather_forecast"]
    agent = FunctionCallAgent(llm, tools)

    query = "What's the weather like today in celsius in Tokyo and Paris."
    with lazyllm.ThreadPoolExecutor(1) as executor:
        future = executor.submit(agent, query)
        while True:
            if value := lazyllm.FileSystemQueue().dequeue():
                print(f"output: {''.join(value)}")
            elif future.done():
                break
        print(f"ret: {future.result()}")
    if form == "trainable":
        llm.stop()


def intermediate_log_output(form: str = "online") -> None:
    # --- the seed's "Intermediate log output" -----------------------------------------
    import lazystream_widget as lazyllm
    from lazystream_widget.tools import FunctionCallAgent

    if form == "trainable":
        llm = lazyllm.TrainableModule("internlm2-chat-20b", stream=True, return_trace=True).start()
    else:
        llm = lazyllm.OnlineChatModule(stream=True, return_trace=True)
    tools = ["get_current_weather", "get_n_day_weather_forecast"]
    agent = FunctionCallAgent(llm, tools, return_trace=True)

    query = "What's the weather like today in celsius in Tokyo and Paris."
    with lazyllm.ThreadPoolExecutor(1) as executor:
        future = executor.submit(agent, query)
        while True:
            if value := lazyllm.FileSystemQueue().dequeue():
                print(f"output: {''.join(value)}")
            elif value := lazyllm.FileSystemQueue().get_instance('lazy_trace').dequeue():
                print(f"trace: {''.join(value)}")
            elif future.done():
                break
        print(f"ret: {future.result()}")
    if form == "trainable":
        llm.stop()


def pretty(form: str = "online") -> None:
    """The seed's traced agent, shown as a person would like to read it: a StreamConsole.

    A failed run raises :class:`Reported` (its error is already on screen, in the tree and status line).
    """
    import lazystream_widget as lazyllm
    from lazystream_widget.tools import FunctionCallAgent

    if form == "trainable":
        llm = lazyllm.TrainableModule("internlm2-chat-20b", stream=True, return_trace=True).start()
    else:
        llm = lazyllm.OnlineChatModule(stream=True, return_trace=True)
    agent = FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"], return_trace=True)
    console = lazyllm.StreamConsole(agent)
    try:
        console.ask("What's the weather like today in celsius in Tokyo and Paris.")
    except Exception as exc:
        if console.last_run is not None and console.last_run.error is exc:
            raise Reported(console.last_run.traceback or "") from exc  # the status line said it: no second copy
        raise
    finally:
        if form == "trainable":
            llm.stop()


class Reported(Exception):
    """A failed run the console has already shown; its one argument is the run's full traceback."""


def main(argv: list[str] | None = None) -> int:
    """The command line: runs the demo; a failure exits with status 1 after one line saying what went wrong."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m lazystream_widget.demo", description=__doc__.splitlines()[0],
        epilog="With no endpoint configured (LAZYSTREAM_OPENAI_BASE_URL / LAZYSTREAM_OPENAI_API_KEY, or OPENAI_*), "
               "the demo starts the embedded scripted model on 127.0.0.1.",
    )
    parser.add_argument("--raw", action="store_true",
                        help="print exactly what the seed's examples print (one queue item per line, trace entries "
                             "as JSON) instead of the streaming answer and trace tree")
    parser.add_argument("--example", choices=["quick", "trace", "both"], default="both",
                        help="with --raw: which of the seed's examples to run (default: both)")
    parser.add_argument("--form", choices=["online", "trainable"], default="online",
                        help="OnlineChatModule (default) or TrainableModule(...).start() with a local server")
    parser.add_argument("--token-delay", type=float, default=0.03, help="scripted model: seconds between tokens")
    parser.add_argument("--traceback", action="store_true",
                        help="on failure, print the full traceback (for a bug report) instead of one line")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bad endpoint, a bad queue home...: one line saying what to do, exit status 1
        if args.traceback:
            import traceback

            print(exc.args[0] if isinstance(exc, Reported) else "".join(traceback.format_exception(exc)),
                  file=sys.stderr, end="")
        elif not isinstance(exc, Reported):
            print(f"{parser.prog}: {type(exc).__name__}: {exc} (--traceback shows where)", file=sys.stderr)
        return 1


def _run(args: Any) -> int:
    import os
    import sys

    configured = os.environ.get("LAZYSTREAM_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or os.environ.get(
        "LAZYSTREAM_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
    server = None
    if args.form == "trainable" and not os.environ.get("LAZYSTREAM_TRAINABLE_CMD"):
        cmd = f"{sys.executable} -m lazystream_widget.testing serve --port {{port}} --responder weather --token-delay {args.token_delay}"
        os.environ["LAZYSTREAM_TRAINABLE_CMD"] = cmd
        print("# TrainableModule form: serving the embedded scripted model as a local server process")
    elif args.form == "online" and not configured:
        from lazystream_widget.testing import ScriptedServer, weather_responder

        server = ScriptedServer(responder=weather_responder, token_delay=args.token_delay).start()
        os.environ["LAZYSTREAM_OPENAI_BASE_URL"] = server.base_url
        os.environ["LAZYSTREAM_OPENAI_API_KEY"] = "scripted"
        print(f"# no endpoint configured: using the embedded scripted model at {server.base_url}")
    try:
        if not args.raw:
            pretty(args.form)
            return 0
        if args.example in ("quick", "both"):
            print("# --- Stream Quick Start ---")
            quick_start(args.form)
        if args.example in ("trace", "both"):
            print("# --- Intermediate log output ---")
            intermediate_log_output(args.form)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
