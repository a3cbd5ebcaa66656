"""Render the example notebooks into the docs, with their widget state, as pages that work offline.

    python scripts/render_notebooks.py [OUTDIR] [NOTEBOOK ...]    # default: docs/rendered/, every notebooks/0*.ipynb

Each notebook is executed on a fresh kernel with no model configured (it starts the scripted model itself),
its widget state saved, and exported to HTML by nbconvert. Such a page normally loads require.js, the
Jupyter widget manager and anywidget from public CDNs (offline, the widgets stay blank); here those files
are copied next to the pages from the repository's ``node_modules/`` (devDependencies ``requirejs``,
``@jupyter-widgets/html-manager``, ``anywidget``: ``npm ci``) and the pages point to them, so the rendered
notebooks show each view's final answer and trace tree with no network at all.

``mkdocs build`` copies OUTDIR into the site; the docs page "In a notebook" links the pages it finds there
(``docs/hooks.py``). OUTDIR is not committed (``.gitignore``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"
WIDGETS = "_widgets"  # folder next to the pages holding the widget manager files

#: npm file -> where it goes under OUTDIR/_widgets
FILES = {
    "requirejs/require.js": "require.js",
    "@jupyter-widgets/html-manager/dist/embed-amd.js": "embed-amd.js",
}


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAZYSTREAM_", "OPENAI_"))}
    env["LAZYSTREAM_HOME"] = str(home)
    return env


def execute(path: Path, workdir: Path) -> object:
    """Run the notebook on a fresh kernel (cwd: a copy of notebooks/), keeping the widget state."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=300, store_widget_state=True, record_timing=False,
                            resources={"metadata": {"path": str(workdir)}})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(_clean_env(workdir / "lazystream-home"))
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def _find_templates_in_base_prefix() -> None:
    """In a venv that borrows the system's site-packages, nbconvert's templates live under the base prefix."""
    base = Path(sys.base_prefix) / "share" / "jupyter"
    if sys.prefix != sys.base_prefix and (base / "nbconvert").is_dir():
        paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
        if str(base) not in paths:
            os.environ["JUPYTER_PATH"] = os.pathsep.join([*paths, str(base)])


def export(nb: object, title: str) -> str:
    """The notebook as one HTML page whose widget files are loaded from ``_widgets/`` beside it."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.require_js_url = f"{WIDGETS}/require.js"
    exporter.widget_renderer_url = f"{WIDGETS}/embed-amd.js"
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    # the widget manager loads widget modules from the CDN this attribute names (default: jsdelivr)
    cdn = f'<script data-jupyter-widgets-cdn="{WIDGETS}/npm/" data-jupyter-widgets-cdn-only></script>'
    html = html.replace("</head>", f"{cdn}\n</head>", 1)
    # MathJax comes from a CDN too; the notebooks hold no math, so the page does without it
    return re.sub(r'<script[^>]*src="https://[^"]*mathjax[^"]*"[^>]*>\s*</script>', "", html, flags=re.I)


def copy_widget_files(out: Path, module_versions: set[str]) -> None:
    missing = [f for f in [*FILES, "anywidget/dist/index.js"] if not (NODE_MODULES / f).is_file()]
    if missing:
        raise SystemExit(f"render_notebooks: {', '.join(missing)} missing under {NODE_MODULES}: run npm ci")
    target = out / WIDGETS
    target.mkdir(parents=True, exist_ok=True)
    for src, dest in FILES.items():
        shutil.copy(NODE_MODULES / src, target / dest)
    for version in module_versions:  # the folder is named exactly as the page asks, e.g. anywidget@~0.11.*
        folder = target / "npm" / f"anywidget@{version}" / "dist"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(NODE_MODULES / "anywidget" / "dist" / "index.js", folder / "index.js")


def render(out: Path, notebooks: list[Path]) -> list[Path]:
    _find_templates_in_base_prefix()
    out.mkdir(parents=True, exist_ok=True)
    pages, versions = [], set()
    with tempfile.TemporaryDirectory(prefix="lsw-render-") as tmp:
        work = Path(tmp) / "notebooks"
        shutil.copytree(REPO / "notebooks", work)
        for path in notebooks:
            print(f"render_notebooks: {path.name}", file=sys.stderr)
            html = export(execute(path, work), path.stem)
            versions.update(re.findall(r'"model_module": "anywidget",\s*"model_module_version": "([^"]+)"', html))
            page = out / f"{path.stem}.html"
            page.write_text(html)
            pages.append(page)
    copy_widget_files(out, versions or {"~0.11.*"})
    return pages


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else REPO / "docs" / "rendered"
    notebooks = [Path(a) for a in argv[1:]] or sorted((REPO / "notebooks").glob("0*.ipynb"))
    for page in render(out, notebooks):
        print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
