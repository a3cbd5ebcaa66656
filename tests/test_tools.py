"""lazystream_widget.runtime.tools and .tool_registry: schemas from hints and docstrings, registration, arguments."""

import inspect
import json
from typing import Annotated, Any, Dict, List, Literal, Optional, Tuple, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazystream_widget.limits import TOOL_TIMEOUT_S
from lazystream_widget.runtime import tool_registry, tools
from lazystream_widget.runtime.tool_registry import ToolRegistry, fc_register
from lazystream_widget.runtime.tools import (
    ToolArgumentError,
    ToolSchemaError,
    ToolSpec,
    UnknownToolError,
    validate_arguments,
)

# --- the seed's tools, exactly as the seed writes them ----------------------------------------------------------------


def _define_seed_tools() -> tuple[Any, Any]:
    """Run the seed's definitions (only the import changed) against whatever tool_registry.REGISTRY is at the time."""

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
        else:
            return json.dumps({'location': location, 'temperature': 'unknown'})

    return get_current_weather, get_n_day_weather_forecast


@pytest.fixture
def default_registry(monkeypatch: pytest.MonkeyPatch) -> ToolRegistry:
    """A fresh registry standing in for tool_registry.REGISTRY, to test the seed's bare @fc_register("tool")."""
    fresh = ToolRegistry()
    monkeypatch.setattr(tool_registry, "REGISTRY", fresh)
    return fresh


UNIT_DESCRIPTION = "The temperature unit to use. Infer this from the users location."
LOCATION = {"type": "string", "description": "The city and state, e.g. San Francisco, CA."}

CURRENT_WEATHER_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA."},
                "unit": {"type": "string", "enum": ["fahrenheit", "celsius"],
                         "description": "The temperature unit to use. Infer this from the users location.",
                         "default": "fahrenheit"},
            },
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}

FORECAST_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_n_day_weather_forecast",
        "description": "Get an N-day weather forecast",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA."},
                "num_days": {"type": "integer", "description": "The number of days to forecast."},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"],
                         "description": "The temperature unit to use. Infer this from the users location.",
                         "default": "fahrenheit"},
            },
            "required": ["location", "num_days"],
            "additionalProperties": False,
        },
    },
}


def test_seed_tools_register_in_the_default_registry_with_exact_schemas(default_registry: ToolRegistry) -> None:
    _define_seed_tools()
    assert default_registry.names() == ["get_current_weather", "get_n_day_weather_forecast"]
    assert default_registry.get("get_current_weather").openai_schema() == CURRENT_WEATHER_SCHEMA
    assert default_registry.get("get_n_day_weather_forecast").openai_schema() == FORECAST_SCHEMA
    # The schema must survive the trip to the model as JSON.
    assert json.loads(json.dumps(FORECAST_SCHEMA)) == default_registry.get("get_n_day_weather_forecast").openai_schema()


def test_seed_description_is_the_summary(default_registry: ToolRegistry) -> None:
    _define_seed_tools()
    spec = default_registry.get("get_n_day_weather_forecast")
    assert spec.description == "Get an N-day weather forecast"
    assert spec.name == "get_n_day_weather_forecast"
    assert spec.timeout is None and spec.effective_timeout == TOOL_TIMEOUT_S


def test_decorated_function_is_returned_unchanged(default_registry: ToolRegistry) -> None:
    current, forecast = _define_seed_tools()
    assert default_registry.get("get_current_weather").fn is current
    assert json.loads(current("Tokyo, Japan")) == {"location": "Tokyo", "temperature": "10", "unit": "celsius"}
    assert json.loads(forecast("Tokyo", 3))["num_days"] == 3
    assert current.__name__ == "get_current_weather" and "Get the current weather" in current.__doc__


def test_openai_schema_is_a_copy() -> None:
    spec = ToolSpec.from_function(_documented_int_tool)
    spec.openai_schema()["function"]["parameters"]["properties"].clear()
    assert "n" in spec.parameters["properties"]


def _documented_int_tool(n: int) -> int:
    """Double a number.

    Args:
        n (int): The number.
    """
    return 2 * n


# --- registry ---------------------------------------------------------------------------------------------------------


def test_reregistration_replaces_and_the_new_function_wins() -> None:
    reg = ToolRegistry()

    @fc_register("tool", registry=reg)
    def echo(text: str) -> str:
        """Echo, first version.

        Args:
            text (str): What to echo.
        """
        return "old"

    first = echo

    @fc_register("tool", registry=reg)
    def echo(text: str, times: int = 1) -> str:  # the same name again, as when a notebook cell is re-run
        """Echo, second version.

        Args:
            text (str): What to echo.
            times (int): How often.
        """
        return "new"

    assert reg.names() == ["echo"]
    spec = reg.get("echo")
    assert spec.fn is echo and spec.fn is not first
    assert spec.fn("x") == "new"
    assert spec.description == "Echo, second version."
    assert list(spec.parameters["properties"]) == ["text", "times"]


def test_name_timeout_and_groups() -> None:
    reg = ToolRegistry()

    @fc_register("tool", "lookup", timeout=5, registry=reg)
    def find(key: str) -> str:
        """Look a key up.

        Args:
            key: The key.
        """
        return key

    @fc_register("retriever", registry=reg)
    def search(query: str) -> list:
        """Search documents.

        Args:
            query: The query.
        """
        return []

    assert reg.names() == ["lookup"]
    assert reg.names("retriever") == ["search"]
    assert reg.get("lookup").timeout == 5 and reg.get("lookup").effective_timeout == 5.0
    assert reg.get("search", group="retriever").fn is search
    with pytest.raises(UnknownToolError):
        reg.get("search")  # another group
    with pytest.raises(UnknownToolError):
        reg.get("find")  # registered under its explicit name only


def test_isolated_registries_do_not_leak_into_the_default_registry() -> None:
    before = tool_registry.REGISTRY.names()
    reg = ToolRegistry()

    @fc_register("tool", registry=reg)
    def private_tool_for_isolation_test(x: int) -> int:
        """Private.

        Args:
            x: A number.
        """
        return x

    assert reg.names() == ["private_tool_for_isolation_test"]
    assert tool_registry.REGISTRY.names() == before
    assert "private_tool_for_isolation_test" not in ToolRegistry().names()


def test_unknown_tool_error_names_the_tool_lists_the_registered_and_says_what_to_do() -> None:
    reg = ToolRegistry()
    reg.register(ToolSpec.from_function(_documented_int_tool, name="double"))
    with pytest.raises(UnknownToolError) as info:
        reg.get("tripple")
    message = str(info.value)
    assert isinstance(info.value, KeyError)
    assert not message.startswith(("'", '"'))  # KeyError would quote it
    assert "'tripple'" in message and "['double']" in message
    assert "decorate it with @fc_register('tool')" in message
    assert info.value.name == "tripple" and info.value.registered == ["double"]
    assert "no tools are registered" in str(UnknownToolError("x", "tool", []))


def test_resolve_names_functions_and_specs() -> None:
    reg = ToolRegistry()

    @fc_register("tool", name="doubler", timeout=3, registry=reg)
    def double(n: int) -> int:
        """Double.

        Args:
            n: A number.
        """
        return 2 * n

    explicit = ToolSpec.from_function(_documented_int_tool, name="explicit")
    resolved = reg.resolve(["doubler", explicit, _documented_int_tool])
    assert [s.name for s in resolved] == ["doubler", "explicit", "_documented_int_tool"]
    assert resolved[0] is reg.get("doubler") and resolved[1] is explicit
    # The registered function resolves to its registered spec (name and timeout kept).
    assert reg.resolve([double])[0] is reg.get("doubler")
    assert reg.resolve(double)[0].timeout == 3
    assert reg.resolve(explicit) == [explicit]
    converted = reg.resolve([_documented_int_tool])[0]
    assert converted.name == "_documented_int_tool" and converted.fn is _documented_int_tool
    assert reg.names() == ["doubler"]  # converting on the fly registers nothing
    assert reg.resolve("doubler") == [reg.get("doubler")]


def test_resolve_rejects_duplicates_unknown_names_and_non_tools() -> None:
    reg = ToolRegistry()
    reg.register(ToolSpec.from_function(_documented_int_tool))
    with pytest.raises(ToolSchemaError, match="two tools are named '_documented_int_tool'"):
        reg.resolve(["_documented_int_tool", _documented_int_tool])
    with pytest.raises(UnknownToolError, match="nope"):
        reg.resolve(["_documented_int_tool", "nope"])
    with pytest.raises(TypeError, match="got int 42"):
        reg.resolve([42])


def test_toolspec_is_hashable_and_validates_name_and_timeout() -> None:
    spec = ToolSpec.from_function(_documented_int_tool)
    assert spec in {spec}
    anonymous = lambda: None  # noqa: E731
    anonymous.__doc__ = "Do nothing."
    reg = ToolRegistry()
    assert fc_register("tool", registry=reg)(anonymous) is anonymous  # registering never fails, as in LazyLLM...
    with pytest.raises(ToolSchemaError, match=r"<lambda>\(\): tool name '<lambda>' is not valid.*name='...'"):
        reg.get("<lambda>")  # ...using it does
    fc_register("tool", "get weather", registry=reg)(_documented_int_tool)
    with pytest.raises(ToolSchemaError, match=r"_documented_int_tool\(\): tool name 'get weather' is not valid"):
        reg.resolve(["get weather"])
    for bad in (0, -1, float("inf"), True, "5"):
        with pytest.raises(ToolSchemaError, match=r"_documented_int_tool\(\): timeout .* is not valid"):
            ToolSpec.from_function(_documented_int_tool, timeout=bad)


def test_bare_decorator_registers_in_the_tool_group_as_in_lazyllm(default_registry: ToolRegistry) -> None:
    assert fc_register(_documented_int_tool) is _documented_int_tool
    assert default_registry.get("_documented_int_tool").fn is _documented_int_tool
    with pytest.raises(TypeError, match=r"needs a group: write @fc_register\('tool'\)"):
        fc_register()
    with pytest.raises(TypeError, match=r"takes a group name first"):
        fc_register(42)
    with pytest.raises(TypeError, match=r"\['execute_in_sandbox'\] are LazyLLM's sandbox"):
        fc_register("tool", execute_in_sandbox=True)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['colour'\]"):
        fc_register("tool", colour="red")
    with pytest.raises(TypeError, match=r"registers a function, got int 42"):
        fc_register("tool")(42)


def test_a_function_that_cannot_be_a_tool_fails_where_it_is_used(default_registry: ToolRegistry) -> None:
    from lazystream_widget.runtime.chat import OnlineChatModule
    from lazystream_widget.tools import FunctionCallAgent, ReactAgent

    def nodoc(x: int) -> int:
        return x

    assert fc_register("Tool")(nodoc) is nodoc and nodoc(2) == 2  # decorating returns it unchanged
    assert default_registry.names("tool") == ["nodoc"]  # groups are case-insensitive, as in LazyLLM
    llm = OnlineChatModule(base_url="http://127.0.0.1:9/v1", model="m")
    for build in (lambda: FunctionCallAgent(llm, ["nodoc"]), lambda: ReactAgent(llm, [nodoc])):
        with pytest.raises(ToolSchemaError) as info:
            build()
        assert str(info.value) == ("tool 'nodoc' (registered with @fc_register('Tool')) cannot be offered to a model: "
                                   "test_a_function_that_cannot_be_a_tool_fails_where_it_is_used.<locals>.nodoc(): "
                                   "has no docstring; a tool needs one: a summary line saying what the tool does, "
                                   "then an 'Args:' section with one 'name (type): description' line per parameter")

    def nodoc(x: int) -> int:
        """Return x.

        Args:
            x (int): a number.
        """
        return x

    fc_register("tool")(nodoc)
    assert FunctionCallAgent(llm, ["nodoc"]).tools[0].fn is nodoc


def test_register_under_another_name_returns_a_wrapper_of_that_name(default_registry: ToolRegistry) -> None:
    renamed = fc_register("tool")(_documented_int_tool, "doubled")
    assert renamed.__name__ == "doubled" and renamed.__wrapped__ is _documented_int_tool
    assert renamed(4) == _documented_int_tool(4)
    assert default_registry.get("doubled").fn is renamed and default_registry.names() == ["doubled"]


# --- type mapping -----------------------------------------------------------------------------------------------------


def _tool_with(hint: Any, default: Any = inspect.Parameter.empty) -> ToolSpec:
    """A one-parameter tool ``x: hint [= default]`` built through a signature, so any hint can be tried."""

    def tool(**kwargs: Any) -> Any:
        return kwargs

    tool.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hint, default=default)])
    tool.__doc__ = "A tool.\n\nArgs:\n    x: The value.\n"
    return ToolSpec.from_function(tool)


def _prop(hint: Any, default: Any = inspect.Parameter.empty) -> dict[str, Any]:
    prop = dict(_tool_with(hint, default).parameters["properties"]["x"])
    assert prop.pop("description") == "The value."
    return prop


@pytest.mark.parametrize(("hint", "expected"), [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    (Literal[1, 2, 3], {"type": "integer", "enum": [1, 2, 3]}),
    (Literal[True], {"type": "boolean", "enum": [True]}),
    (Literal["a", None], {"type": "string", "enum": ["a"], "nullable": True}),
    (list, {"type": "array"}),
    (List, {"type": "array"}),  # noqa: UP006
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (List[str], {"type": "array", "items": {"type": "string"}}),  # noqa: UP006
    (list[list[float]], {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}),
    (dict, {"type": "object"}),
    (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
    (Dict[str, list[bool]], {"type": "object",  # noqa: UP006
                             "additionalProperties": {"type": "array", "items": {"type": "boolean"}}}),
    (tuple, {"type": "array"}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (Tuple[int, str], {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],  # noqa: UP006
                       "minItems": 2, "maxItems": 2}),
    (Optional[int], {"type": "integer", "nullable": True}),  # noqa: UP045
    (int | None, {"type": "integer", "nullable": True}),
    (Union[None, str], {"type": "string", "nullable": True}),
    (list[Optional[str]], {"type": "array", "items": {"type": "string", "nullable": True}}),  # noqa: UP045
    (Annotated[int, "meta"], {"type": "integer"}),
])
def test_supported_type_hints(hint: Any, expected: dict[str, Any]) -> None:
    assert _prop(hint) == expected


def test_required_iff_no_default_and_defaults_recorded() -> None:
    def tool(a: int, b: Optional[int], c: int | None = None, d: str = None, e: float = 1.5,  # noqa: UP045
             f: list[int] = [1, 2]) -> None:  # noqa: B006
        """Many parameters.

        Args:
            a (int): Plain.
            b (Optional[int]): Nullable but required: it has no default.
            c (int, optional): Nullable with default.
            d (str): An old-style implicit Optional.
            e (float): With a default.
            f (list[int]): A list default.
        """

    params = ToolSpec.from_function(tool).parameters
    assert params["required"] == ["a", "b"]
    props = params["properties"]
    assert props["b"] == {"type": "integer", "nullable": True,
                          "description": "Nullable but required: it has no default."}
    assert props["c"] == {"type": "integer", "nullable": True, "description": "Nullable with default.", "default": None}
    assert props["d"] == {"type": "string", "nullable": True, "description": "An old-style implicit Optional.",
                          "default": None}
    assert props["e"]["default"] == 1.5 and props["f"]["default"] == [1, 2]
    assert "default" not in props["a"] and "nullable" not in props["a"]


def test_string_annotations_are_resolved() -> None:
    def tool(x: "int", y: "Optional[list[str]]" = None) -> None:  # noqa: UP045
        """String hints, as under `from __future__ import annotations`.

        Args:
            x: A number.
            y: Some words.
        """

    props = ToolSpec.from_function(tool).parameters["properties"]
    assert props["x"]["type"] == "integer"
    assert props["y"]["items"] == {"type": "string"} and props["y"]["nullable"] is True
    # x: "int" in a module using `from __future__ import annotations` is stored as "'int'".
    assert _prop("'dict[str, int]'") == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_docstring_layout_variants() -> None:
    def tool(city: str, days: int = 1, flag: bool = False) -> None:
        """Forecast the weather.

        Looks further ahead when asked.

        Arguments:
            city: The city,
                which may span lines.
            days (int, optional): How many days. Contains (parentheses): and colons.
            flag (bool):
                Description on the next line.

        Returns:
            str: ignored (this is not a parameter).

        Raises:
            ValueError: ignored too.
        """

    spec = ToolSpec.from_function(tool)
    assert spec.description == "Forecast the weather.\n\nLooks further ahead when asked."
    props = spec.parameters["properties"]
    assert props["city"]["description"] == "The city, which may span lines."
    assert props["days"]["description"] == "How many days. Contains (parentheses): and colons."
    assert props["flag"]["description"] == "Description on the next line."


def test_zero_parameter_tool_needs_no_args_section() -> None:
    def now() -> str:
        """Tell the time."""
        return "noon"

    assert ToolSpec.from_function(now).parameters == {
        "type": "object", "properties": {}, "required": [], "additionalProperties": False}


@pytest.mark.parametrize(("hint", "doc_type"), [
    (Literal["fahrenheit", "celsius"], "str"),  # the seed's get_current_weather
    (Literal["celsius", "fahrenheit"], "Literal['celsius', 'fahrenheit']"),
    (Literal["celsius", "fahrenheit"], "Literal['fahrenheit', 'celsius', 'kelvin']"),
    (Literal[1, 2], "int"),
    (int, "float"),
    (int, "number"),
    (str, "string"),
    (str, "str, optional"),
    (str, "Optional[str]"),
    (str, "str or None"),
    (int, "int | str"),
    (Optional[int], "int"),  # noqa: UP045 - nullability is the hint's business
    (list[int], "list"),
    (list[int], "List[int]"),
    (list[int], "typing.List[float]"),
    (tuple[int, str], "tuple[int, str]"),
    (tuple[int, int], "list[int]"),
    (dict[str, int], "dict"),
    (dict[str, int], "Dict[str, float]"),
])
def test_docstring_types_that_restate_or_widen_the_hint_are_accepted(hint: Any, doc_type: str) -> None:
    def tool(**kwargs: Any) -> None:
        pass

    tool.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("x", inspect.Parameter.KEYWORD_ONLY, annotation=hint)])
    tool.__doc__ = f"A tool.\n\nArgs:\n    x ({doc_type}): The value.\n"
    assert ToolSpec.from_function(tool).parameters["properties"]["x"]["description"] == "The value."


# --- registration errors ----------------------------------------------------------------------------------------------


class MyEnum:
    """Not something a JSON schema can carry."""


def _schema_error(fn: Any) -> str:
    """The error building ``fn``'s spec; registering it succeeds and using it raises the same message."""
    with pytest.raises(ToolSchemaError) as info:
        ToolSpec.from_function(fn)
    message = str(info.value)
    assert "\n" not in message
    reg = ToolRegistry()
    assert fc_register("tool", registry=reg)(fn) is fn
    with pytest.raises(ToolSchemaError) as used:
        reg.resolve([fn.__name__])
    assert str(used.value).endswith(message) and "cannot be offered to a model" in str(used.value)
    return message


def test_missing_type_hint_is_an_error_naming_function_and_parameter() -> None:
    def get_weather(location: str, unit="celsius") -> str:
        """Get the weather.

        Args:
            location: The city.
            unit: The unit.
        """
        return ""

    message = _schema_error(get_weather)
    assert "get_weather()" in message and "parameter 'unit' has no type hint" in message
    assert "annotate it" in message


@pytest.mark.parametrize(("hint", "shown", "reason"), [
    (MyEnum, "MyEnum", ""),
    (Any, "Any", ""),
    (list[MyEnum], "list[", "'MyEnum' is not supported"),
    (Union[int, str], "Union[int, str]", "a union of several types"),
    (dict[int, str], "dict[int, str]", "use dict[str, ...]"),
    (Literal["a", 1], "Literal['a', 1]", "all of one kind"),
    (type(None), "NoneType", ""),
])
def test_unsupported_type_hint_is_an_error(hint: Any, shown: str, reason: str) -> None:
    def get_weather(**kwargs: Any) -> None:
        pass

    get_weather.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("unit", inspect.Parameter.KEYWORD_ONLY, annotation=hint)])
    get_weather.__doc__ = "Get the weather.\n\nArgs:\n    unit: The unit.\n"
    message = _schema_error(get_weather)
    assert message.startswith("test_unsupported_type_hint_is_an_error.<locals>.get_weather(): parameter 'unit' "
                              "has type hint '")
    assert shown in message and reason in message and "which a tool schema cannot express" in message
    assert message.endswith("; use str, int, float, bool, Literal[...], Optional[...], list[...] or dict[str, ...]")


def test_unsupported_type_message_matches_the_documented_form() -> None:
    def get_weather(unit: MyEnum) -> None:
        """Get the weather.

        Args:
            unit: The unit.
        """

    assert _schema_error(get_weather) == (
        "test_unsupported_type_message_matches_the_documented_form.<locals>.get_weather(): parameter 'unit' has type "
        "hint 'MyEnum', which a tool schema cannot express; use str, int, float, bool, Literal[...], Optional[...], "
        "list[...] or dict[str, ...]")


def test_unresolvable_string_hint_is_an_error() -> None:
    def get_weather(unit: "NoSuchType") -> None:  # noqa: F821
        """Get the weather.

        Args:
            unit: The unit.
        """

    message = _schema_error(get_weather)
    assert "get_weather(): parameter 'unit'" in message and "NoSuchType" in message and "cannot be evaluated" in message


def test_missing_docstring_is_an_error() -> None:
    def get_weather(location: str) -> None:
        pass

    message = _schema_error(get_weather)
    assert "get_weather(): has no docstring" in message and "Args:" in message


def test_docstring_without_summary_is_an_error() -> None:
    def get_weather(location: str) -> None:
        """
        Args:
            location (str): The city.
        """

    assert "get_weather(): the docstring has no summary" in _schema_error(get_weather)


def test_undocumented_parameter_is_an_error() -> None:
    def get_weather(location: str, unit: str) -> None:
        """Get the weather.

        Args:
            location (str): The city.
        """

    message = _schema_error(get_weather)
    assert "get_weather(): parameter 'unit' is not described in the docstring's Args: section" in message
    assert "'unit (str): <what it is>'" in message


def test_parameters_without_any_args_section_are_an_error() -> None:
    def get_weather(location: str) -> None:
        """Get the weather."""

    assert "parameter 'location' is not described" in _schema_error(get_weather)


def test_documented_but_absent_parameter_is_an_error() -> None:
    def get_weather(location: str) -> None:
        """Get the weather.

        Args:
            location (str): The city.
            units (str): A typo of a parameter that does not exist.
        """

    message = _schema_error(get_weather)
    assert "get_weather(): the docstring's Args: section describes 'units', which is not a parameter" in message
    assert "['location']" in message


@pytest.mark.parametrize(("hint", "doc_type"), [
    (str, "int"),
    (int, "str"),
    (float, "int"),  # narrowing: the schema would allow 1.5
    (Literal["celsius", "fahrenheit"], "Literal['celsius']"),
    (Literal["a", "b"], "int"),
    (list[int], "list[str]"),
    (list[int], "dict"),
    (dict[str, int], "dict[str, str]"),
    (tuple[int, str], "tuple[int, int]"),
    (str, "None"),
])
def test_docstring_type_contradicting_the_hint_is_an_error(hint: Any, doc_type: str) -> None:
    def get_weather(**kwargs: Any) -> None:
        pass

    get_weather.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("unit", inspect.Parameter.KEYWORD_ONLY, annotation=hint)])
    get_weather.__doc__ = f"Get the weather.\n\nArgs:\n    unit ({doc_type}): The unit.\n"
    message = _schema_error(get_weather)
    assert f"get_weather(): parameter 'unit' is documented as {doc_type!r} but its type hint is" in message
    assert "make the docstring type match the hint" in message


def test_docstring_type_that_cannot_be_read_is_an_error() -> None:
    def get_weather(unit: str) -> None:
        """Get the weather.

        Args:
            unit (a unit name): The unit.
        """

    message = _schema_error(get_weather)
    assert "get_weather(): parameter 'unit' is documented as 'a unit name', which is not a type" in message
    assert "leave the '(type)' out" in message


@pytest.mark.parametrize(("doc_args", "expected"), [
    ("    location (str): The city,\n    continued at the wrong indent.\n",
     "cannot read the docstring's Args: line 'continued at the wrong indent.'"),
    ("    location (str):\n", "parameter 'location' has an empty description"),
    ("    location (str): The city.\n    location (str): Again.\n", "describes 'location' twice"),
])
def test_malformed_args_section_is_an_error(doc_args: str, expected: str) -> None:
    def get_weather(location: str) -> None:
        pass

    get_weather.__doc__ = f"Get the weather.\n\nArgs:\n{doc_args}"
    message = _schema_error(get_weather)
    assert "get_weather(): " in message and expected in message


def test_variadic_parameters_are_an_error() -> None:
    def get_weather(location: str, *places: str) -> None:
        """Get the weather.

        Args:
            location (str): The city.
            *places (str): More cities.
        """

    def set_options(**options: str) -> None:
        """Set options.

        Args:
            **options: The options.
        """

    message = _schema_error(get_weather)
    assert "get_weather(): parameter '*places' is variadic" in message and "list[...]" in message
    assert "set_options(): parameter '**options' is variadic" in _schema_error(set_options)


def test_positional_only_parameter_is_an_error() -> None:
    def get_weather(location: str, /) -> None:
        """Get the weather.

        Args:
            location (str): The city.
        """

    assert "get_weather(): parameter 'location' is positional-only" in _schema_error(get_weather)


@pytest.mark.parametrize(("hint", "default"), [(int, "three"), (float, float("nan")), (list[int], [1, "x"]),
                                               (Literal["a", "b"], "c")])
def test_default_not_fitting_the_hint_is_an_error(hint: Any, default: Any) -> None:
    with pytest.raises(ToolSchemaError, match=r"tool\(\): parameter 'x' has default .* which does not fit"):
        _tool_with(hint, default)


# --- validate_arguments -----------------------------------------------------------------------------------------------


def _spec(fn: Any) -> ToolSpec:
    return ToolSpec.from_function(fn)


def get_current_weather(location: str, unit: Literal["fahrenheit", "celsius"] = "fahrenheit") -> str:
    """Get the current weather in a given location

    Args:
        location (str): The city and state.
        unit (str): The temperature unit to use.
    """
    return location


def kitchen_sink(count: int, ratio: float, on: bool, tags: list[str], scores: dict[str, int],
                 point: tuple[int, str], maybe: Optional[int], nested: list[dict[str, list[int]]],  # noqa: UP045
                 mode: Literal[1, 2] = 1, extras: list[int] = [0]) -> None:  # noqa: B006
    """Take every kind of parameter.

    Args:
        count: An integer.
        ratio: A number.
        on: A boolean.
        tags: Strings.
        scores: Integers by name.
        point: An integer and a string.
        maybe: An integer or null.
        nested: Lists of dicts of lists.
        mode: One or two.
        extras: More integers.
    """


GOOD = {"count": 1, "ratio": 0.5, "on": True, "tags": ["a"], "scores": {"x": 1}, "point": [1, "p"], "maybe": None,
        "nested": [{"k": [1, 2]}]}


def test_validate_accepts_good_arguments_fills_defaults_and_returns_a_new_dict() -> None:
    spec = _spec(kitchen_sink)
    args = json.loads(json.dumps(GOOD))
    out = validate_arguments(spec, args)
    assert out == {**GOOD, "mode": 1, "extras": [0]}
    assert out is not args and args == GOOD  # the input is not changed
    assert list(out) == list(spec.parameters["properties"])  # signature order
    out["extras"].append(99)  # a tool mutating its default must not change later calls
    assert validate_arguments(spec, GOOD)["extras"] == [0]
    assert validate_arguments(_spec(get_current_weather), {"location": "Paris"}) == {"location": "Paris",
                                                                                   "unit": "fahrenheit"}


def test_validate_int_for_number_and_whole_floats_for_integers() -> None:
    spec = _spec(kitchen_sink)
    out = validate_arguments(spec, {**GOOD, "count": 3.0, "ratio": 2, "nested": [{"k": [4.0]}], "point": [2.0, "q"]})
    assert out["count"] == 3 and type(out["count"]) is int
    assert out["ratio"] == 2
    assert type(out["nested"][0]["k"][0]) is int and type(out["point"][0]) is int
    assert validate_arguments(spec, {**GOOD, "mode": 2.0})["mode"] == 2


@pytest.mark.parametrize(("change", "message"), [
    ({"count": 3.5}, "kitchen_sink: argument 'count' must be an integer, got 3.5 (number)"),
    ({"count": True}, "kitchen_sink: argument 'count' must be an integer, got True (boolean)"),
    ({"count": "3"}, "kitchen_sink: argument 'count' must be an integer, got '3' (string)"),
    ({"ratio": False}, "kitchen_sink: argument 'ratio' must be a number, got False (boolean)"),
    ({"on": 1}, "kitchen_sink: argument 'on' must be a boolean, got 1 (integer)"),
    ({"tags": "a"}, "kitchen_sink: argument 'tags' must be an array, got 'a' (string)"),
    ({"tags": ["a", 2]}, "kitchen_sink: argument 'tags'[1] must be a string, got 2 (integer)"),
    ({"scores": {"x": "1"}}, "kitchen_sink: argument 'scores'['x'] must be an integer, got '1' (string)"),
    ({"scores": [1]}, "kitchen_sink: argument 'scores' must be an object, got [1] (array)"),
    ({"point": [1]}, "kitchen_sink: argument 'point' must have exactly 2 items, got 1"),
    ({"point": ["p", 1]}, "kitchen_sink: argument 'point'[0] must be an integer, got 'p' (string)"),
    ({"maybe": "x"}, "kitchen_sink: argument 'maybe' must be an integer or null, got 'x' (string)"),
    ({"count": None}, "kitchen_sink: argument 'count' must be an integer, got null"),
    ({"nested": [{"k": [1, None]}]}, "kitchen_sink: argument 'nested'[0]['k'][1] must be an integer, got null"),
    ({"mode": 3}, "kitchen_sink: argument 'mode' must be one of [1, 2], got 3"),
    ({"mode": True}, "kitchen_sink: argument 'mode' must be one of [1, 2], got True (boolean)"),
    ({"bogus": 1}, "kitchen_sink: unknown argument 'bogus'; the tool takes ['count', 'ratio', 'on', 'tags', 'scores', "
                   "'point', 'maybe', 'nested', 'mode', 'extras']"),
])
def test_validate_rejects_with_a_short_message(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(_spec(kitchen_sink), {**GOOD, **change})
    assert str(info.value) == message


def test_validate_enum_message_matches_the_documented_form() -> None:
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(_spec(get_current_weather), {"location": "Paris", "unit": "kelvin"})
    assert str(info.value) == (
        "get_current_weather: argument 'unit' must be one of ['fahrenheit', 'celsius'], got 'kelvin'")
    assert isinstance(info.value, ValueError)


def test_validate_missing_required_and_non_object_arguments() -> None:
    spec = _spec(get_current_weather)
    with pytest.raises(ToolArgumentError, match=r"^get_current_weather: missing required argument 'location'$"):
        validate_arguments(spec, {"unit": "celsius"})
    # A required but nullable parameter must still be given (null is an answer, absence is not).
    with pytest.raises(ToolArgumentError, match="missing required argument 'maybe'"):
        validate_arguments(_spec(kitchen_sink), {k: v for k, v in GOOD.items() if k != "maybe"})
    with pytest.raises(ToolArgumentError, match=r"the arguments must be an object, got \['Paris'\] \(array\)"):
        validate_arguments(spec, ["Paris"])  # type: ignore[arg-type]
    with pytest.raises(ToolArgumentError, match="must have string keys"):
        validate_arguments(spec, {1: "Paris"})


def test_validate_message_is_one_short_line() -> None:
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(_spec(kitchen_sink), {**GOOD, "count": "line\n" * 1000})
    message = str(info.value)
    assert message.startswith("kitchen_sink: argument 'count' must be an integer, got 'line\\nline")
    assert "\n" not in message and len(message) < 150


# --- property: validate_arguments fails only with ToolArgumentError ---------------------------------------------------

HINTS = [str, int, float, bool, Literal["a", "b"], Literal[1, 2], Optional[int], str | None, list, list[int],  # noqa: UP045
         List[str], dict, dict[str, float], Dict[str, list[bool]], tuple[int, str], tuple[float, ...],  # noqa: UP006
         list[list[int]], dict[str, Optional[str]], Optional[list[Literal["x", "y"]]]]  # noqa: UP045

_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=4)
            | st.floats(allow_nan=False, allow_infinity=False))
JSON = st.recursive(_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=6)
# Beyond JSON: what a sloppy caller might pass (NaN, whole floats, tuples, non-string keys).
JUNK = st.recursive(JSON | st.floats() | st.integers().map(float),
                    lambda c: st.tuples(c, c) | st.dictionaries(st.integers() | st.text(max_size=2), c, max_size=2),
                    max_leaves=4)


def _values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that fit ``schema``."""
    kind = schema.get("type")
    if "enum" in schema:
        strategy = st.sampled_from(schema["enum"])
    elif kind == "string":
        strategy = st.text(max_size=4)
    elif kind == "integer":
        strategy = st.integers() | st.integers(-(2**52), 2**52).map(float)
    elif kind == "number":
        strategy = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "boolean":
        strategy = st.booleans()
    elif kind == "array" and "prefixItems" in schema:
        strategy = st.tuples(*map(_values, schema["prefixItems"])).map(list)
    elif kind == "array":
        strategy = st.lists(_values(schema["items"]) if "items" in schema else JSON, max_size=3)
    else:
        inner = schema.get("additionalProperties")
        strategy = st.dictionaries(st.text(max_size=3), _values(inner) if inner else JSON, max_size=3)
    return strategy | st.none() if schema.get("nullable") else strategy


@st.composite
def _tool_and_arguments(draw: st.DrawFn) -> tuple[ToolSpec, dict[Any, Any], bool]:
    hints = draw(st.lists(st.sampled_from(HINTS), min_size=1, max_size=4))
    params = []
    for i, hint in enumerate(hints):
        default = inspect.Parameter.empty
        if draw(st.booleans()):
            default = draw(_values(tools._hint_schema(hint)))
        params.append(inspect.Parameter(f"p{i}", inspect.Parameter.KEYWORD_ONLY, annotation=hint, default=default))

    def tool(**kwargs: Any) -> Any:
        return kwargs

    tool.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    tool.__doc__ = "Random tool.\n\nArgs:\n" + "".join(f"    p{i}: Parameter {i}.\n" for i in range(len(params)))
    spec = ToolSpec.from_function(tool)

    arguments: dict[Any, Any] = {}
    well_formed = True
    for p in params:
        choice = draw(st.sampled_from(["valid", "omit", "json", "junk"]))
        if choice == "omit":
            well_formed &= p.default is not p.empty
        elif choice == "valid":
            arguments[p.name] = draw(_values(spec.parameters["properties"][p.name]))
        else:
            arguments[p.name] = draw(JSON if choice == "json" else JUNK)
            well_formed = False
    if draw(st.booleans()):
        arguments[draw(st.text(max_size=3) | st.integers())] = draw(JSON)
        well_formed = False
    return spec, arguments, well_formed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tool_and_arguments())
def test_validate_arguments_raises_nothing_but_tool_argument_error(case: tuple[ToolSpec, dict[Any, Any], bool]) -> None:
    spec, arguments, well_formed = case
    try:
        out = validate_arguments(spec, arguments)
    except ToolArgumentError as exc:
        assert not well_formed, f"valid arguments rejected: {exc}"
        assert "\n" not in str(exc) and str(exc).startswith(spec.name + ": ")
        return
    # Accepted: every parameter is there, and checking again changes nothing.
    assert set(out) == set(spec.parameters["properties"])
    assert validate_arguments(spec, out) == out


def test_naming_the_seeds_tools_before_importing_the_demo_says_where_they_are(child_env) -> None:
    """The seed's example names its tools; in a fresh process nothing has defined them yet."""
    import subprocess
    import sys

    code = ("import lazystream_widget as lazyllm\n"
            "from lazystream_widget.tools import FunctionCallAgent\n"
            "llm = lazyllm.OnlineChatModule(stream=True, base_url='http://127.0.0.1:9/v1')\n"
            "try:\n"
            "    FunctionCallAgent(llm, ['get_current_weather', 'get_n_day_weather_forecast'])\n"
            "except KeyError as e:\n"
            "    print(e)\n"
            "import lazystream_widget.demo\n"
            "print(len(FunctionCallAgent(llm, ['get_current_weather', 'get_n_day_weather_forecast']).tools))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=child_env())
    assert proc.returncode == 0, proc.stderr
    said, count = proc.stdout.splitlines()
    assert said.startswith("unknown tool 'get_current_weather'") and "import lazystream_widget.demo" in said, said
    assert count == "2"
    assert "lazystream_widget.demo" not in str(UnknownToolError("my_tool", "tool", []))  # only for the seed's
