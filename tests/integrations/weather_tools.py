"""The seed's two weather tools, registered with the REAL LazyLLM's ``fc_register`` (as the seed writes them)."""
# ruff: noqa: E501 - the seed's tools, as the seed writes them

from __future__ import annotations

import json
from typing import Literal

from lazyllm.tools import fc_register


@fc_register("tool")
def get_current_weather(location: str, unit: Literal["fahrenheit", "celsius"] = "fahrenheit"):
    """
    Get the current weather in a given location

    Args:
        location (str): The city and state, e.g. San Francisco, CA.
        unit (str): The temperature unit to use. Infer this from the users location.
    """
    if "tokyo" in location.lower():
        return json.dumps({"location": "Tokyo", "temperature": "10", "unit": "celsius"})
    elif "san francisco" in location.lower():
        return json.dumps({"location": "San Francisco", "temperature": "72", "unit": "fahrenheit"})
    elif "paris" in location.lower():
        return json.dumps({"location": "Paris", "temperature": "22", "unit": "celsius"})
    elif "beijing" in location.lower():
        return json.dumps({"location": "Beijing", "temperature": "90", "unit": "fahrenheit"})
    else:
        return json.dumps({"location": location, "temperature": "unknown"})


@fc_register("tool")
def get_n_day_weather_forecast(location: str, num_days: int, unit: Literal["celsius", "fahrenheit"] = "fahrenheit"):
    """
    Get an N-day weather forecast

    Args:
        location (str): The city and state, e.g. San Francisco, CA.
        num_days (int): The number of days to forecast.
        unit (Literal['celsius', 'fahrenheit']): The temperature unit to use. Infer this from the users location.
    """
    if "tokyo" in location.lower():
        return json.dumps({"location": "Tokyo", "temperature": "10", "unit": "celsius", "num_days": num_days})
    elif "san francisco" in location.lower():
        return json.dumps({"location": "San Francisco", "temperature": "75", "unit": "fahrenheit", "num_days": num_days})
    elif "paris" in location.lower():
        return json.dumps({"location": "Paris", "temperature": "25", "unit": "celsius", "num_days": num_days})
    elif "beijing" in location.lower():
        return json.dumps({"location": "Beijing", "temperature": "85", "unit": "fahrenheit", "num_days": num_days})
    else:
        return json.dumps({"location": location, "temperature": "unknown"})


TOOLS = ["get_current_weather", "get_n_day_weather_forecast"]
