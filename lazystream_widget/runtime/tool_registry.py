"""Registering tools: ``@fc_register("tool")`` and the registry agents look tool names up in.

Registration behaves like LazyLLM's: the decorator returns the function unchanged (so code written for LazyLLM
runs as is), ``fc_register("tool")(func, "another_name")`` registers under another name, and a bare
``@fc_register`` registers in the group ``"tool"``. A function that cannot be a tool (no docstring, an unsupported
type hint...) is kept under its name with its :class:`~.tools.ToolSchemaError`, raised when the tool is used: in
the cell that builds an agent with it, never later in the model's turn.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .tools import ToolSchemaError, ToolSpec, UnknownToolError

__all__ = ["REGISTRY", "ToolLike", "ToolRegistry", "fc_register", "register"]

F = TypeVar("F", bound=Callable[..., Any])

#: What ToolRegistry.resolve accepts for one tool: a registered name, a function or a spec.
ToolLike = str | Callable[..., Any] | ToolSpec


@dataclass(frozen=True)
class _Unusable:
    """A registered function that cannot be a tool; the error is raised when a tool of that name is used."""

    name: str
    fn: Callable[..., Any]
    error: ToolSchemaError
    group: str

    def raise_error(self) -> None:
        raise ToolSchemaError(f"tool {self.name!r} (registered with @fc_register({self.group!r})) cannot be offered "
                              f"to a model: {self.error}") from None


class ToolRegistry:
    """Tools by group and name. Thread-safe: notebooks register while agents on other threads resolve.

    Group names are case-insensitive (``"Tool"`` is ``"tool"``), as in LazyLLM. A function registered with a
    mistake (no docstring, an unsupported type hint...) is kept under its name and the mistake is raised
    when that tool is used: looked up, or given to an agent.
    """

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, ToolSpec | _Unusable]] = {}
        self._lock = threading.Lock()

    def register(self, spec: ToolSpec, group: str = "tool") -> None:
        """Add ``spec``; one of the same name in ``group`` is replaced (re-running a notebook cell redefines a tool)."""
        with self._lock:
            self._groups.setdefault(group.lower(), {})[spec.name] = spec

    def register_unusable(self, name: str, fn: Callable[..., Any], error: ToolSchemaError, group: str = "tool") -> None:
        """Record that ``fn`` was registered as ``name`` but cannot be a tool; using it raises ``error``."""
        with self._lock:
            self._groups.setdefault(group.lower(), {})[name] = _Unusable(name, fn, error, group)

    def get(self, name: str, group: str = "tool") -> ToolSpec:
        """The spec registered as ``name``; :class:`UnknownToolError` if there is none, :class:`ToolSchemaError` if
        the function registered under that name cannot be a tool."""
        with self._lock:
            specs = self._groups.get(group.lower(), {})
            found = specs.get(name)
            registered = list(specs)
        if isinstance(found, _Unusable):
            found.raise_error()
        if found is None:
            raise UnknownToolError(name, group, registered)
        return found

    def names(self, group: str = "tool") -> list[str]:
        """Names registered in ``group``, in registration order (unusable ones included)."""
        with self._lock:
            return list(self._groups.get(group.lower(), {}))

    def resolve(self, tools: Iterable[ToolLike] | ToolLike, group: str = "tool") -> list[ToolSpec]:
        """Turn names, functions and specs (or one of them) into specs.

        A function registered in ``group`` gives its registered spec (with its name and timeout); any other function
        is converted on the fly. Two tools of one name are an error: the model could not tell them apart.
        """
        if isinstance(tools, (str, ToolSpec)) or callable(tools):
            tools = [tools]
        specs: list[ToolSpec] = []
        for tool in tools:
            if isinstance(tool, ToolSpec):
                spec = tool
            elif isinstance(tool, str):
                spec = self.get(tool, group)
            elif callable(tool):
                spec = self._registered_spec(tool, group) or ToolSpec.from_function(tool)
            else:
                raise TypeError(f"a tool is given as a name, a function or a ToolSpec, got {type(tool).__name__} "
                                f"{tool!r}")
            if any(s.name == spec.name for s in specs):
                raise ToolSchemaError(f"two tools are named {spec.name!r}; the model cannot tell them apart, "
                                      f"so give one another name (fc_register(..., name='...'))")
            specs.append(spec)
        return specs

    def _registered_spec(self, fn: Callable[..., Any], group: str) -> ToolSpec | None:
        with self._lock:
            found = next((s for s in self._groups.get(group.lower(), {}).values() if s.fn is fn), None)
        if isinstance(found, _Unusable):
            found.raise_error()
        return found


#: The registry ``fc_register`` uses unless given another.
REGISTRY = ToolRegistry()

#: LazyLLM's tool options for its sandbox and file handling, which this package does not have.
_LAZYLLM_ONLY_OPTIONS = {"execute_in_sandbox", "input_files_parm", "output_files_parm", "output_files", "read_keys",
                         "write_keys", "exclusive", "polling", "host_file", "tool_identity", "tool_origin",
                         "tool_source", "rewrite_func"}
_UNSET: Any = object()


def fc_register(group: Any = _UNSET, name: str | None = None, *, timeout: float | None = None,
                registry: ToolRegistry | None = None, **options: Any) -> Any:
    """Register functions as tools of ``group``, as LazyLLM does: ``@fc_register("tool")``.

    The decorator returns the function unchanged, so it stays callable as plain Python, even when it cannot be a
    tool (no docstring, an unsupported type hint...): that mistake is raised as a :class:`ToolSchemaError`, naming
    the function and what is missing, when the tool is used (an agent built with it, or ``REGISTRY.get``).

    Also as in LazyLLM: ``fc_register("tool")(func, "another_name")`` registers ``func`` under another name (and
    returns a wrapper of that name), and a bare ``@fc_register`` registers in the group ``"tool"``.

    Args:
        group: the tool group (``"tool"`` is where agents look tools up by name); case-insensitive.
        name: register under this name instead of the function's ``__name__``.
        timeout: seconds before a call of this tool is abandoned (default ``TOOL_TIMEOUT_S``).
        registry: another registry than :data:`REGISTRY` (tests).
    """
    if options:
        known = sorted(set(options) & _LAZYLLM_ONLY_OPTIONS)
        if known:
            raise TypeError(f"fc_register() option(s) {known} are LazyLLM's sandbox and file-handling options, which "
                            f"lazystream-widget does not have; remove them (the tool then runs in-process)")
        raise TypeError(f"fc_register() got unexpected keyword argument(s) {sorted(options)}; it takes a group, "
                        f"name=, timeout= and registry=")
    if group is _UNSET:
        raise TypeError("fc_register() needs a group: write @fc_register('tool')")
    if callable(group) and not isinstance(group, (str, type)):  # a bare @fc_register
        return _register(group, "tool", name, timeout, registry)
    if not isinstance(group, str) or not group:
        raise TypeError(f"fc_register() takes a group name first, e.g. @fc_register('tool'); got {group!r}")

    def decorator(fn: F, func_name: str | None = None) -> F:
        if func_name is not None:
            return _register(_renamed(fn, func_name), group, func_name, timeout, registry)
        return _register(fn, group, name, timeout, registry)

    return decorator


def _renamed(fn: Callable[..., Any], new_name: str) -> Callable[..., Any]:
    """What LazyLLM registers for ``fc_register(group)(fn, new_name)``: a wrapper called ``new_name``."""
    if not callable(fn):
        raise TypeError(f"fc_register() registers a function, got {type(fn).__name__} {fn!r}")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    wrapper.__name__ = new_name
    return wrapper


def _register(fn: F, group: str, name: str | None, timeout: float | None, registry: ToolRegistry | None) -> F:
    if not callable(fn):
        raise TypeError(f"fc_register({group!r}) registers a function, got {type(fn).__name__} {fn!r}")
    # Looked up at call time (not bound as a default) so tests may swap the module attribute.
    target = registry if registry is not None else REGISTRY
    try:
        target.register(ToolSpec.from_function(fn, name=name, timeout=timeout), group)
    except ToolSchemaError as exc:
        shown = name if name is not None else getattr(fn, "__name__", None) or repr(fn)
        target.register_unusable(shown, fn, exc, group)
    return fn


#: LazyLLM's other name for ``fc_register``.
register = fc_register
