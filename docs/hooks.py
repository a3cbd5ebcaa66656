"""MkDocs hooks: tables generated from the code, so the docs cannot drift from it.

A page writes a marker on a line of its own and gets the table in its place:

* ``<!-- generated: settings -->``: every ``configure()`` setting (``lazystream_widget.settings.describe()``);
* ``<!-- generated: providers -->``: the known ``OnlineChatModule`` sources (``runtime.chat.SOURCES``);
* ``<!-- generated: api -->``: the API reference of every public name (``lazystream_widget._LAZY``);
* ``<!-- generated: rendered-notebooks -->``: links to the notebooks ``scripts/render_notebooks.py`` rendered
  into ``docs/rendered/`` (with their widget state, offline), or a line saying how to render them.

An unknown marker fails the build (``mkdocs build --strict`` runs in ``scripts/test``).

The docstrings are written with Sphinx roles (``:class:`~lazystream_widget.Run```), which Markdown shows
as they are typed; :func:`on_page_content` turns them into code spans (``Run``) on every page.
"""

from __future__ import annotations

import re
from typing import Any

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)
ALIASES = {"rendered-notebooks": "notebooks"}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    from lazystream_widget import settings

    rows = ["| setting | environment variable | default | what it does |", "|---|---|---|---|"]
    for s in settings.describe():
        env = f"`{s.env}`" if s.env else ""
        default = "unset" if s.default is None or s.default == {} else f"`{s.default!r}`"
        rows.append(f"| `{s.name}` | {env} | {default} | {_cell(s.doc)} |")
    return "\n".join(rows)


def providers_table() -> str:
    from lazystream_widget.runtime.chat import SOURCES

    rows = ["| `source=` | base URL | default model | key variable |", "|---|---|---|---|"]
    for name, (base, model) in SOURCES.items():
        prefix = f"LAZYSTREAM_{name.upper()}_"
        base_text = f"`{base}`" if base else "the `openai` client's default (api.openai.com)"
        rows.append(f"| `{name}` | {base_text} | `{model}` | `{prefix}API_KEY` |")
    return "\n".join(rows)


def rendered_notebooks() -> str:
    from pathlib import Path

    pages = sorted((Path(__file__).parent / "rendered").glob("*.html"))
    if not pages:
        return ("*The rendered notebooks are not part of this build. To include them, build the front end and "
                "render them first: `npm ci && npm run build && python scripts/render_notebooks.py`, then "
                "`mkdocs build` or `mkdocs serve` (scripts/test does this).*")
    links = ", ".join(f"[{p.stem}](rendered/{p.name})" for p in pages)
    return (f"**Rendered with their widget state** (executed at build time; the pages carry the widget manager "
            f"files and work offline): {links}.")


#: The API reference's sections: public names of ``lazystream_widget`` (each documented where ``_LAZY`` says it
#: lives, so a name that moves between modules is followed). Public names in no group land in "More".
API_GROUPS = {
    "Views": ["StreamView", "StreamConsole", "Run"],
    "Settings": ["configure"],
    "Models": ["OnlineChatModule", "TrainableModule", "ModelConfigError", "ModelError", "ServerStartError"],
    "Tools, agents and flows": ["fc_register", "FunctionCallAgent", "MaxTurnsExceeded", "pipeline", "parallel",
                                "ModuleBase"],
    "Queues and sessions": ["FileSystemQueue", "ThreadPoolExecutor", "session", "new_session", "current_session",
                            "Session", "RunCancelled"],
    "Recorded runs": ["cassette", "Cassette", "CassetteError", "CassetteMismatchError"],
}


#: Members that are plumbing, not API: the display protocol the runner calls (``RunSink``), the widget's
#: message route, and the runner's own steps. Public in Python (other modules of the package call them), left
#: out of the reference so a reader sees what they can use.
INTERNAL_MEMBERS = {
    "StreamView": ["send_snapshot", "send_control_reply", "control_route", "handle_name"],
    "StreamConsole": ["handle_name"],
    "Run": ["take_new_notices", "state", "start"],
}


def _sink_methods() -> list[str]:
    from lazystream_widget.runner import RunSink

    return [name for name in vars(RunSink) if name.startswith("run_")]


def _target(target: str, name: str) -> str:
    """A ``:::`` block for ``target``, without its internal members (see :data:`INTERNAL_MEMBERS`)."""
    hidden = INTERNAL_MEMBERS.get(name, []) + (_sink_methods() if name in ("StreamView", "StreamConsole") else [])
    if not hidden:
        return f"::: {target}\n"
    filters = ", ".join(['"!^_"'] + [f'"!^{member}$"' for member in hidden])  # the site's "!^_" kept
    return f"::: {target}\n    options:\n      filters: [{filters}]\n"


def api_reference() -> str:
    import importlib
    import inspect

    import lazystream_widget

    lazy = lazystream_widget._LAZY
    grouped = {name for names in API_GROUPS.values() for name in names}
    groups = {title: [n for n in names if n in lazy] for title, names in API_GROUPS.items()}
    # the rest, skipping the placeholders _0.._9 (instances, documented with bind)
    rest = sorted(n for n in lazy if n not in grouped and not n.startswith("_"))
    groups["Flows"] = [n for n in rest if lazy[n].startswith("lazystream_widget.runtime.flow")]
    groups["More"] = [n for n in rest if n not in groups["Flows"]]
    out, seen = [], set()
    for title, names in groups.items():
        targets = []
        for name in names:
            obj = getattr(importlib.import_module(lazy[name]), name)
            # an alias (pipeline = Pipeline) is documented once, where its object is defined
            target = (f"{obj.__module__}.{obj.__qualname__}" if inspect.isclass(obj) or inspect.isfunction(obj)
                      else f"{lazy[name]}.{name}")
            if target not in seen:
                seen.add(target)
                targets.append(_target(target, name))
        if targets:
            out += [f"## {title}\n", *targets]
    return "\n".join(out)


#: ``:class:`~a.b.C```, rendered by Markdown as ``:class:<code>~a.b.C</code>``
_ROLE = re.compile(r":(?:py:)?(?:class|attr|func|meth|mod|exc|data|obj|const):<code>(~?)([^<]+)</code>")


def plain_roles(html: str) -> str:
    """Sphinx roles in rendered docstrings as code spans: ``~`` keeps the last name, as Sphinx does."""
    return _ROLE.sub(lambda m: f"<code>{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}</code>", html)


def on_page_content(html: str, **_: Any) -> str:
    return plain_roles(html)


TABLES = {"settings": settings_table, "providers": providers_table, "notebooks": rendered_notebooks,
          "api": api_reference}


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    def replace(match: re.Match) -> str:
        name = ALIASES.get(match.group(1), match.group(1))
        if name not in TABLES:
            raise ValueError(f"{page.file.src_path}: unknown generated table {name!r} (known: {', '.join(TABLES)})")
        return TABLES[name]()

    return MARKER.sub(replace, markdown)
