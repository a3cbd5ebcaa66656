"""Responders: small deterministic "models" that answer from the request itself.

:func:`weather_responder` plays the model of the seed's weather demo (OpenAI's
classic ``get_current_weather`` example), so the demo, its tests and the docs run
without any real model: turn 1 asks for parallel tool calls, turn 2 turns the
tool results into the seed's answer, e.g. "The current weather in Tokyo is 10
degrees Celsius, and in Paris, it is 22 degrees Celsius."

:func:`echo_responder` is the neutral default of test fixtures.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .script import Reply, ToolCall

__all__ = ["CITIES", "echo_responder", "weather_responder"]

CURRENT_TOOL = "get_current_weather"
FORECAST_TOOL = "get_n_day_weather_forecast"
DEFAULT_FORECAST_DAYS = 3

#: City recognised in a query (lower case) -> the ``location`` argument sent to the tool.
CITIES: dict[str, str] = {
    "tokyo": "Tokyo, Japan",
    "san francisco": "San Francisco, CA",
    "paris": "Paris, France",
    "beijing": "Beijing, China",
    "london": "London, UK",
    "new york": "New York, NY",
}

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_ERROR_MAX_CHARS = 120


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _last_user_index(messages: list[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _tool_names(request: dict[str, Any]) -> set[str]:
    names = set()
    for tool in request.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            names.add(fn["name"])
    return names


def find_cities(query: str) -> list[str]:
    """The tool ``location`` of each known city named in ``query``, in order of mention."""
    lowered = query.lower()
    found = [(m.start(), city) for city in CITIES for m in [re.search(rf"\b{city}\b", lowered)] if m]
    return [CITIES[city] for _, city in sorted(found)]


def _num_days(query: str) -> int:
    lowered = query.lower()
    match = re.search(r"\b(\d+)\b", lowered)
    if match:
        return int(match.group(1))
    for word, value in _NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", lowered):
            return value
    return 7 if re.search(r"\bweek\b", lowered) else DEFAULT_FORECAST_DAYS


def _ask_tools(query: str, tools: set[str]) -> Reply:
    lowered = query.lower()
    wants_forecast = "forecast" in lowered or re.search(r"\bdays?\b", lowered) is not None
    unit = "celsius" if "celsius" in lowered else "fahrenheit" if "fahrenheit" in lowered else None
    if wants_forecast and FORECAST_TOOL in tools:
        name, extra = FORECAST_TOOL, {"num_days": _num_days(query)}
    elif CURRENT_TOOL in tools:
        name, extra = CURRENT_TOOL, {}
    else:
        return Reply(text=_friendly(tools))
    cities = find_cities(query)
    if not cities:
        return Reply(
            text="I can look up the weather in Tokyo, San Francisco, Paris, Beijing, London and New York. "
            "Which city would you like to know about?"
        )
    calls = []
    for location in cities:
        arguments: dict[str, Any] = {"location": location, **extra}
        if unit:
            arguments["unit"] = unit
        calls.append(ToolCall(name=name, arguments=arguments))
    return Reply(tool_calls=calls)


def _friendly(tools: set[str]) -> str:
    if tools:
        return "Hello! I am the scripted demo model. I only know how to use the get_current_weather tool."
    return (
        "Hello! I am the scripted demo model. Give me the get_current_weather tool and ask me "
        "about the weather in a city such as Tokyo or Paris."
    )


def _calls_by_id(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Arguments of each tool call the assistant made, by call id (to name failed calls)."""
    calls: dict[str, dict[str, Any]] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            try:
                arguments = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            calls[call.get("id", "")] = arguments if isinstance(arguments, dict) else {}
    return calls


def _city(location: Any) -> str:
    return str(location).split(",")[0].strip() or str(location)


def _value(result: dict[str, Any]) -> str:
    temperature = result.get("temperature")
    if temperature is None or str(temperature).lower() == "unknown":
        return "unknown"
    unit = str(result.get("unit") or "").strip()
    return f"{temperature} degrees {unit.capitalize()}".rstrip()


def _short_error(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no result"
    return line if len(line) <= _ERROR_MAX_CHARS else line[: _ERROR_MAX_CHARS - 1] + "…"


def _answer(tool_messages: list[dict[str, Any]], calls: dict[str, dict[str, Any]]) -> str:
    clauses: list[str] = []
    errors: list[str] = []
    for message in tool_messages:
        content = _text(message.get("content"))
        arguments = calls.get(message.get("tool_call_id", ""), {})
        try:
            result = json.loads(content)
        except ValueError:
            result = None
        if not isinstance(result, dict) or "error" in result:
            text = str(result["error"]) if isinstance(result, dict) else content
            where = _city(arguments.get("location") or message.get("name") or "that place")
            errors.append(f"I could not get the weather for {where}: {_short_error(text)}")
            continue
        where = _city(result.get("location") or arguments.get("location") or "that place")
        days = result.get("num_days") or arguments.get("num_days")
        if days:
            head = f"The {days}-day forecast for {where} is" if not clauses else f"for {where}, it is"
        else:
            head = f"The current weather in {where} is" if not clauses else f"in {where}, it is"
        clauses.append(f"{head} {_value(result)}")
    sentences = []
    if len(clauses) == 1:
        sentences.append(clauses[0] + ".")
    elif clauses:
        sentences.append(", ".join(clauses[:-1]) + ", and " + clauses[-1] + ".")
    sentences += [e if e.endswith((".", "!", "?", "…")) else e + "." for e in errors]
    return " ".join(sentences) or "I did not get any weather data back."


def weather_responder(request: dict[str, Any]) -> Reply:
    """The weather demo's model: tool calls for the cities asked about, then an answer.

    Turn 1 (the conversation ends with the user's message): one parallel call of
    ``get_current_weather`` per city named (or ``get_n_day_weather_forecast`` when the
    query asks for a forecast / days and that tool is offered). Turn 2 (tool results
    follow the user's message): an answer built from those results, streamed word by word.
    """
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    last_user = _last_user_index(messages)
    if last_user is None:
        return Reply(text=_friendly(_tool_names(request)))
    after = messages[last_user + 1 :]
    tool_messages = [m for m in after if m.get("role") == "tool"]
    if tool_messages:
        return Reply(text=_answer(tool_messages, _calls_by_id(after)))
    if after:  # the conversation ends with an assistant turn: nothing more to do
        return Reply(text="Is there anything else you would like to know about the weather?")
    return _ask_tools(_text(messages[last_user].get("content")), _tool_names(request))


def echo_responder(request: dict[str, Any]) -> Reply:
    """Streams back ``"You said: <last user content>"``: a neutral default for fixtures."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    last_user = _last_user_index(messages)
    said = _text(messages[last_user].get("content")) if last_user is not None else ""
    return Reply(text=f"You said: {said}")
