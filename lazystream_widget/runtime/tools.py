"""Tool registration: ``@fc_register("tool")`` turns a documented, type-hinted function into a tool.

A tool's JSON schema is built once, at registration, from the function's type hints (which decide the schema) and its
Google-style docstring (which supplies the descriptions). Anything the schema cannot express, and any disagreement
between docstring and hints, is a :class:`ToolSchemaError` naming the function and the parameter. As in LazyLLM the
decorator itself never fails for such a function (it returns it unchanged, so code written for LazyLLM runs as is):
the error is raised when the tool is used, in the cell that builds the agent, never later in the model's turn.

At call time :func:`validate_arguments` checks the model's arguments against that schema and returns a short, one-line
:class:`ToolArgumentError` message meant to be handed back to the model so it can correct itself.

Example (the seed's tool, unchanged)::

    @fc_register("tool")
    def get_n_day_weather_forecast(location: str, num_days: int,
                                   unit: Literal["celsius", "fahrenheit"] = "fahrenheit"):
        '''
        Get an N-day weather forecast

        Args:
            location (str): The city and state, e.g. San Francisco, CA.
            num_days (int): The number of days to forecast.
            unit (Literal['celsius', 'fahrenheit']): The temperature unit to use.
        '''
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import math
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from lazystream_widget.limits import TOOL_TIMEOUT_S

__all__ = [
    "ToolArgumentError",
    "ToolSchemaError",
    "ToolSpec",
    "UnknownToolError",
    "validate_arguments",
]

F = TypeVar("F", bound=Callable[..., Any])

_SUPPORTED = "use str, int, float, bool, Literal[...], Optional[...], list[...] or dict[str, ...]"
# OpenAI (and most OpenAI-compatible servers) reject other function names.
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


# --- errors -----------------------------------------------------------------------------------------------------------


class ToolSchemaError(TypeError):
    """A function cannot become a tool: unsupported type hint, missing documentation, bad name..."""


class ToolArgumentError(ValueError):
    """The model's arguments do not fit the tool's schema. The message is one short line for the model to read."""


#: The seed's two weather tools: examples name them, and they are registered by importing the demo module.
SEED_TOOLS = {"get_current_weather": "lazystream_widget.demo", "get_n_day_weather_forecast": "lazystream_widget.demo"}


class UnknownToolError(KeyError):
    """No tool of that name is registered."""

    def __init__(self, name: str, group: str, registered: list[str]) -> None:
        super().__init__(name)
        self.name, self.group, self.registered = name, group, registered

    def __str__(self) -> str:  # KeyError's own __str__ would show the message as a quoted repr
        known = (f"registered tools: {self.registered}" if self.registered
                 else f"no tools are registered in {self.group!r}")
        if self.name in SEED_TOOLS:  # the README's and the seed's examples name them before anything defines them
            return (f"unknown tool {self.name!r} ({known}): it is one of the seed's weather tools, defined in "
                    f"{SEED_TOOLS[self.name]}; run `import {SEED_TOOLS[self.name]}` first, which registers them")
        return (f"unknown tool {self.name!r} ({known}); to make a function a tool, "
                f"decorate it with @fc_register({self.group!r}) and run its definition first")


# --- the spec ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSpec:
    """One tool: what the model is told about it (name, description, JSON schema) and what runs (``fn``).

    ``timeout`` is in seconds; ``None`` means the package default ``TOOL_TIMEOUT_S`` (see :attr:`effective_timeout`).
    """

    name: str
    description: str
    # A dict cannot be hashed; leaving it out of the hash keeps specs usable in sets (equality still compares it).
    parameters: dict[str, Any] = field(hash=False)
    fn: Callable[..., Any]
    timeout: float | None = None

    def __post_init__(self) -> None:
        owner = _qualname(self.fn)
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ToolSchemaError(f"{owner}(): tool name {self.name!r} is not valid; a tool name is 1-64 letters, "
                                  f"digits, '_' or '-' (pass name='...' to fc_register)")
        t = self.timeout
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < math.inf):
            raise ToolSchemaError(f"{owner}(): timeout {t!r} is not valid; give a positive number of seconds or None "
                                  f"for the default ({TOOL_TIMEOUT_S:g} s)")

    @property
    def effective_timeout(self) -> float:
        """The timeout to apply to a call, in seconds: ``timeout`` or the package default."""
        return TOOL_TIMEOUT_S if self.timeout is None else float(self.timeout)

    @classmethod
    def from_function(cls, fn: Callable[..., Any], name: str | None = None, timeout: float | None = None) -> ToolSpec:
        """Build a spec from ``fn``'s type hints and docstring; raise :class:`ToolSchemaError` if that is impossible."""
        if not callable(fn):
            raise ToolSchemaError(f"a tool must be a function, got {type(fn).__name__} {fn!r}")
        description, parameters = _describe_function(fn, _qualname(fn))
        return cls(name if name is not None else getattr(fn, "__name__", ""), description, parameters, fn, timeout)

    def openai_schema(self) -> dict[str, Any]:
        """The spec as an entry of the OpenAI ``tools`` list (a copy: callers may change it freely)."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": copy.deepcopy(self.parameters)}}


# --- argument validation ----------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value does not fit a schema; the message lacks the tool name, which the caller adds."""


def validate_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """Check the model's (JSON-decoded) ``arguments`` against ``spec`` and return a new dict to call ``spec.fn`` with.

    Defaults are filled in, and a whole-number float given for an integer becomes an int. Raises
    :class:`ToolArgumentError` with a one-line message for the model.
    """
    try:
        return _check(arguments, spec.parameters, "")
    except _Invalid as exc:
        raise ToolArgumentError(f"{spec.name}: {exc}") from None


_KIND_TEXT = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
              "array": "an array", "object": "an object"}


def _check(value: Any, schema: dict[str, Any], path: str) -> Any:
    """Return ``value`` checked against ``schema`` (the subset of JSON schema this module writes), or raise _Invalid.

    ``path`` names the value in messages: ``''`` for the arguments object, then ``'unit'``, ``'days'[2]``...
    """
    what = f"argument {path}" if path else "the arguments"
    if value is None:
        if schema.get("nullable"):
            return None
        raise _Invalid(f"{what} must be {_expected(schema)}, got null")
    kind = schema.get("type")
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)  # models often write 3.0 for 3
    if kind is not None and _json_kind(value) not in (("integer", "number") if kind == "number" else (kind,)):
        raise _Invalid(f"{what} must be {_expected(schema)}, got {_show(value)} ({_json_kind(value)})")
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        raise _Invalid(f"{what} must be {_expected(schema)}, got {_show(value)}")
    if kind == "array":
        if "prefixItems" in schema:  # a tuple[X, Y]: fixed length, one schema per position
            prefix = schema["prefixItems"]
            if len(value) != len(prefix):
                raise _Invalid(f"{what} must have exactly {len(prefix)} items, got {len(value)}")
            return [_check(v, s, f"{path}[{i}]") for i, (v, s) in enumerate(zip(value, prefix, strict=True))]
        items = schema.get("items")
        return [v if items is None else _check(v, items, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "object":
        return _check_object(value, schema, path, what)
    return value


def _check_object(value: dict[Any, Any], schema: dict[str, Any], path: str, what: str) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(f"{what} must have string keys, got {_show(key)}")
        if key not in props and extra is False:
            if not path:
                raise _Invalid(f"unknown argument {key!r}; the tool takes {list(props)}")
            raise _Invalid(f"{what} has unknown key {key!r}; allowed keys are {list(props)}")
    for key in schema.get("required", ()):
        if key not in value:
            raise _Invalid(f"missing required argument {key!r}" if not path else f"{what} is missing key {key!r}")
    out: dict[str, Any] = {}
    for key, sub in props.items():  # in schema (= signature) order
        if key in value:
            out[key] = _check(value[key], sub, _sub_path(path, key))
        elif "default" in sub:
            # A copy, so a tool that mutates its list default cannot change the schema for later calls.
            out[key] = copy.deepcopy(sub["default"])
    for key, v in value.items():
        if key not in props:
            out[key] = v if not isinstance(extra, dict) else _check(v, extra, _sub_path(path, key))
    return out


def _sub_path(path: str, key: str) -> str:
    return f"{path}[{key!r}]" if path else repr(key)


def _expected(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        text = f"one of {schema['enum']}"
    else:
        text = _KIND_TEXT.get(schema.get("type", ""), "a value")
    return text + (" or null" if schema.get("nullable") else "")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass, but true is not a number in JSON
        return "boolean"
    for py, kind in ((int, "integer"), (float, "number"), (str, "string"), ((list, tuple), "array"), (dict, "object")):
        if isinstance(value, py):
            return kind
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` equals ``1`` in Python but not in JSON."""
    return _json_kind(a) == _json_kind(b) and a == b


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- building the schema ----------------------------------------------------------------------------------------------


class _Unsupported(Exception):
    """Raised inside hint/doc-type conversion; ``part`` is the offending piece, ``why`` an optional reason."""

    def __init__(self, part: Any, why: str = "") -> None:
        super().__init__(why)
        self.part, self.why = part, why


_SCALARS: tuple[tuple[type, str], ...] = ((str, "string"), (bool, "boolean"), (int, "integer"), (float, "number"))


def _qualname(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and get_origin(tp) is None:
        return tp.__qualname__
    return repr(tp).replace("typing.", "")


def _describe_function(fn: Callable[..., Any], qual: str) -> tuple[str, dict[str, Any]]:
    """Return (description, parameters schema) of ``fn``, or raise ToolSchemaError naming what is wrong."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ToolSchemaError(f"{qual}(): its signature cannot be read ({exc}); wrap it in a plain def") from None
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise ToolSchemaError(f"{qual}(): parameter '{star}{p.name}' is variadic, which a tool schema cannot "
                                  f"express; replace it with named parameters (or one list[...] / dict[str, ...])")
        if p.kind is p.POSITIONAL_ONLY:  # tools are called with keyword arguments
            raise ToolSchemaError(f"{qual}(): parameter {p.name!r} is positional-only; remove the '/' from the "
                                  f"signature, since a tool is called with keyword arguments")

    summary, documented = _parse_docstring(fn.__doc__, qual)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for p in params:
        hint = _resolve_hint(fn, qual, p)
        schema = _parameter_schema(qual, p, hint)
        if p.name not in documented:
            raise ToolSchemaError(f"{qual}(): parameter {p.name!r} is not described in the docstring's Args: section; "
                                  f"add a line '{p.name} ({_type_name(hint)}): <what it is>'")
        doc_type, description = documented.pop(p.name)
        if doc_type:
            _check_doc_type(qual, p.name, doc_type, schema, hint)
        schema["description"] = description
        if p.default is p.empty:
            required.append(p.name)
        else:
            schema["default"] = _checked_default(qual, p, schema)
        properties[p.name] = schema
    if documented:  # what is left names no parameter
        extra = next(iter(documented))
        raise ToolSchemaError(f"{qual}(): the docstring's Args: section describes {extra!r}, which is not a parameter; "
                              f"remove that entry or fix its name (parameters: {[p.name for p in params]})")
    return summary, {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _resolve_hint(fn: Callable[..., Any], qual: str, p: inspect.Parameter) -> Any:
    """The parameter's hint, evaluated if it is a string (``from __future__ import annotations``)."""
    if p.annotation is p.empty:
        raise ToolSchemaError(f"{qual}(): parameter {p.name!r} has no type hint; annotate it, e.g. '{p.name}: str' "
                              f"(the hint decides the schema the model sees)")
    namespace = getattr(inspect.unwrap(fn), "__globals__", None) or getattr(fn, "__globals__", {})
    hint = p.annotation
    # What typing.get_type_hints does, one parameter at a time so an error can name it. A string may evaluate to another
    # string (x: "int" under `from __future__ import annotations` is "'int'"), hence the loop.
    for _ in range(3):
        if not isinstance(hint, str):
            return hint
        try:
            hint = eval(hint, namespace)
        except Exception as exc:  # evaluating an annotation can raise anything
            raise ToolSchemaError(f"{qual}(): parameter {p.name!r} has type hint {hint!r}, which cannot be evaluated "
                                  f"({type(exc).__name__}: {exc}); define the names it uses at module level") from None
    return hint


def _parameter_schema(qual: str, p: inspect.Parameter, hint: Any) -> dict[str, Any]:
    try:
        schema = _hint_schema(hint)
    except _Unsupported as exc:
        reason = exc.why or (f"'{_type_name(exc.part)}' is not supported" if exc.part is not hint else "")
        raise ToolSchemaError(f"{qual}(): parameter {p.name!r} has type hint '{_type_name(hint)}', which a tool schema "
                              f"cannot express{f' ({reason})' if reason else ''}; {_SUPPORTED}") from None
    if p.default is None:
        # `x: str = None` is the old spelling of Optional[str]; without this the schema's own default would be invalid.
        schema["nullable"] = True
    return schema


def _hint_schema(tp: Any) -> dict[str, Any]:
    """JSON schema (without description) of a type hint; raises _Unsupported."""
    origin, args = get_origin(tp), get_args(tp)
    for py, kind in _SCALARS:
        if tp is py:  # identity: a str subclass (e.g. a StrEnum) is not a str to the model
            return {"type": kind}
    if origin is Annotated:
        return _hint_schema(args[0])
    if origin is Literal:
        return _literal_schema(list(args), tp)
    if origin is Union or origin is types.UnionType:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(rest) == len(args):
            raise _Unsupported(tp, "a union of several types; make it one type, or Optional[X] for X or None")
        return {**_hint_schema(rest[0]), "nullable": True}
    if tp is list or origin is list:
        return {"type": "array", **({"items": _hint_schema(args[0])} if args else {})}
    if tp is tuple or origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _hint_schema(args[0])}
        if not args:
            return {"type": "array"}
        return {"type": "array", "prefixItems": [_hint_schema(a) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    if tp is dict or origin is dict:
        if not args:
            return {"type": "object"}
        if args[0] is not str:
            raise _Unsupported(tp, "JSON object keys are strings, so use dict[str, ...]")
        return {"type": "object", "additionalProperties": _hint_schema(args[1])}
    raise _Unsupported(tp)


def _literal_schema(values: list[Any], where: Any) -> dict[str, Any]:
    nullable = any(v is None for v in values)
    values = [v for v in values if v is not None]
    kinds = {_json_kind(v) for v in values}
    if not values or len(kinds) != 1 or not kinds <= {"string", "integer", "boolean"}:
        raise _Unsupported(where, "Literal values must be strings, integers or booleans, all of one kind")
    return {"type": kinds.pop(), "enum": values, **({"nullable": True} if nullable else {})}


def _checked_default(qual: str, p: inspect.Parameter, schema: dict[str, Any]) -> Any:
    try:
        _check(p.default, schema, repr(p.name))
        json.dumps(p.default, allow_nan=False)
    except (_Invalid, TypeError, ValueError) as exc:
        raise ToolSchemaError(f"{qual}(): parameter {p.name!r} has default {_show(p.default)}, which does not fit its "
                              f"schema ({exc}); use a JSON value matching the type hint, or None") from None
    return p.default


# --- docstrings -------------------------------------------------------------------------------------------------------

_ARG_SECTIONS = {"args", "arguments", "parameters", "params"}
_SECTION_RE = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|other parameters|returns?|yields?|raises?|"
    r"examples?|notes?|attributes|see also|warnings?|todo|references)\s*:\s*$", re.IGNORECASE)
# `name (type): description` or `name: description`; the type is non-greedy so a ')' in the description is harmless.
_ENTRY_RE = re.compile(r"^(\*{0,2}\w+)\s*(?:\((.*?)\))?\s*:(.*)$")


def _parse_docstring(doc: str | None, qual: str) -> tuple[str, dict[str, tuple[str, str]]]:
    """Return (summary, {parameter: (doc type or '', description)}) of a Google-style docstring."""
    layout = ("a summary line saying what the tool does, then an 'Args:' section with one "
              "'name (type): description' line")
    if not doc or not doc.strip():
        raise ToolSchemaError(f"{qual}(): has no docstring; a tool needs one: {layout} per parameter")
    lines = inspect.cleandoc(doc).splitlines()
    headers = [i for i, line in enumerate(lines) if _SECTION_RE.match(line)]
    summary = "\n".join(lines[: headers[0] if headers else len(lines)]).strip()
    if not summary:
        raise ToolSchemaError(f"{qual}(): the docstring has no summary before its sections; start it with {layout}")
    entries: dict[str, tuple[str, str]] = {}
    for start, end in zip(headers, headers[1:] + [len(lines)], strict=False):
        if lines[start].strip().rstrip(":").strip().lower() in _ARG_SECTIONS:
            for name, (doc_type, parts) in _parse_args_section(lines[start + 1: end], qual).items():
                if name in entries:
                    raise ToolSchemaError(f"{qual}(): the docstring describes {name!r} twice; keep one entry")
                if not parts:
                    raise ToolSchemaError(f"{qual}(): parameter {name!r} has an empty description in the docstring's "
                                          f"Args: section; say what the model should pass")
                entries[name] = (doc_type, " ".join(parts))
    return summary, entries


def _parse_args_section(body: list[str], qual: str) -> dict[str, tuple[str, list[str]]]:
    """{name: (doc type or '', description lines)} of an Args: section's lines."""
    entries: dict[str, tuple[str, list[str]]] = {}
    indent: int | None = None
    for line in body:
        if not line.strip():
            continue
        ind = len(line) - len(line.lstrip())
        indent = ind if indent is None else indent
        if ind > indent and entries:
            entries[next(reversed(entries))][1].append(line.strip())  # continues the latest entry
            continue
        match = _ENTRY_RE.match(line.strip()) if ind == indent else None
        if not match:
            raise ToolSchemaError(f"{qual}(): cannot read the docstring's Args: line {line.strip()!r}; write "
                                  f"'name (type): description', indenting continuation lines deeper than the name")
        name, doc_type, first = match.group(1), (match.group(2) or "").strip(), match.group(3).strip()
        if name in entries:
            raise ToolSchemaError(f"{qual}(): the docstring describes {name!r} twice; keep one entry")
        entries[name] = (doc_type, [first] if first else [])
    return entries


def _check_doc_type(qual: str, name: str, doc_type: str, schema: dict[str, Any], hint: Any) -> None:
    """The hint decides the schema; the docstring type may restate it or widen it (``str`` for a Literal of strings)."""
    try:
        alternatives = _doc_type_schemas(doc_type)
    except _Unsupported:
        raise ToolSchemaError(f"{qual}(): parameter {name!r} is documented as {doc_type!r}, which is not a type this "
                              f"package can read; write it like the hint ('{_type_name(hint)}') or leave the "
                              f"'(type)' out") from None
    if not any(_covers(alt, schema) for alt in alternatives):
        raise ToolSchemaError(f"{qual}(): parameter {name!r} is documented as {doc_type!r} but its type hint is "
                              f"'{_type_name(hint)}'; make the docstring type match the hint (the hint decides the "
                              f"schema)")


_DOC_NAMES: dict[str, dict[str, Any]] = {
    **{n: {"type": "string"} for n in ("str", "string")},
    **{n: {"type": "integer"} for n in ("int", "integer")},
    **{n: {"type": "number"} for n in ("float", "number")},
    **{n: {"type": "boolean"} for n in ("bool", "boolean")},
    **{n: {"type": "array"} for n in ("list", "List", "array", "tuple", "Tuple", "Sequence")},
    **{n: {"type": "object"} for n in ("dict", "Dict", "Mapping")},
    **{n: {"type": "null"} for n in ("None", "NoneType", "null")},
}


def _doc_type_schemas(text: str) -> list[dict[str, Any]]:
    """Schemas a docstring type allows, one per alternative, null left out. Parsed, never evaluated."""
    text = re.sub(r"(^|,)\s*optional\s*$", "", text.strip(), flags=re.IGNORECASE)  # Google's "(str, optional)"
    text = re.sub(r"\s+or\s+", " | ", text.strip())
    if not text:
        return [{}]  # "(optional)" alone says nothing about the type
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise _Unsupported(text) from None
    return [s for s in _doc_node(node) if s.get("type") != "null"]


def _doc_node(node: ast.expr) -> list[dict[str, Any]]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _doc_node(node.left) + _doc_node(node.right)
    if isinstance(node, ast.Constant) and node.value is None:
        return [{"type": "null"}]
    if isinstance(node, (ast.Name, ast.Attribute)):
        base = node.id if isinstance(node, ast.Name) else node.attr  # typing.List -> List
        if base not in _DOC_NAMES:
            raise _Unsupported(base)
        return [dict(_DOC_NAMES[base])]
    if not isinstance(node, ast.Subscript) or not isinstance(node.value, (ast.Name, ast.Attribute)):
        raise _Unsupported(node)
    base = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
    args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if base == "Optional":
        return _doc_node(args[0]) + [{"type": "null"}]
    if base == "Union":
        return [s for a in args for s in _doc_node(a)]
    if base == "Literal":
        try:
            values = [ast.literal_eval(a) for a in args]
        except ValueError:
            raise _Unsupported(node) from None
        return [_literal_schema(values, node)]
    kind = _DOC_NAMES.get(base, {}).get("type")
    if kind == "array" and base in ("tuple", "Tuple") and not (len(args) == 2 and _is_ellipsis(args[1])):
        return [{"type": "array", "prefixItems": [_doc_single(a) for a in args]}]
    if kind == "array":
        return [{"type": "array", "items": _doc_single(args[0])}]
    if kind == "object" and len(args) == 2:
        return [{"type": "object", "additionalProperties": _doc_single(args[1])}]
    raise _Unsupported(node)


def _is_ellipsis(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _doc_single(node: ast.expr) -> dict[str, Any]:
    """A nested docstring type must be one type (nullability aside)."""
    alternatives = [s for s in _doc_node(node) if s.get("type") != "null"]
    if len(alternatives) != 1:
        raise _Unsupported(node)
    return alternatives[0]


def _covers(doc: dict[str, Any], hint: dict[str, Any]) -> bool:
    """Whether every value the hint's schema allows is also allowed by the docstring's (nullability ignored)."""
    kind = doc.get("type")
    if kind is not None and kind != hint["type"] and not (kind == "number" and hint["type"] == "integer"):
        return False
    if "enum" in doc and ("enum" not in hint or not all(any(_same(h, d) for d in doc["enum"]) for h in hint["enum"])):
        return False
    if "items" in doc:
        inner = [hint["items"]] if "items" in hint else hint.get("prefixItems")
        if inner is None or not all(_covers(doc["items"], h) for h in inner):
            return False
    if "prefixItems" in doc:
        inner = hint.get("prefixItems")
        if inner is None or len(inner) != len(doc["prefixItems"]):
            return False
        if not all(_covers(d, h) for d, h in zip(doc["prefixItems"], inner, strict=True)):
            return False
    if "additionalProperties" in doc:
        inner = hint.get("additionalProperties")
        if not isinstance(inner, dict) or not _covers(doc["additionalProperties"], inner):
            return False
    return True


_REGISTRY_NAMES = ("REGISTRY", "ToolRegistry", "ToolLike", "fc_register", "register")


def __getattr__(name: str) -> Any:
    """Registration lives in :mod:`.tool_registry` (which imports this module); its names stay reachable here."""
    if name in _REGISTRY_NAMES:
        from . import tool_registry

        return getattr(tool_registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
