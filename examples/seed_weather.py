"""The seed's two examples, re-indented, with only the import lines changed.

Run it with ``python -m lazystream_widget.demo`` (which points the model at the
embedded scripted model), or against your own OpenAI-compatible endpoint with
``LAZYSTREAM_OPENAI_BASE_URL`` / ``LAZYSTREAM_OPENAI_API_KEY`` / ``LAZYSTREAM_OPENAI_MODEL`` set.
"""
# --- the seed's tools (unchanged but for the import line) ---------------------------
from typing import Literal
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
