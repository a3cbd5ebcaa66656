"""``python -m benchmarks``: every figure, ours beside its floor or peer measured in the same run.

    python -m benchmarks                       # everything, LazyLLM in benchmarks/out/lazyllm-venv
    python -m benchmarks --quick               # our side only, small sizes, a few minutes (CI)
    python -m benchmarks --only queue,e2e      # some groups (--list: what there is)
    python -m benchmarks --json out.json --plots docs/bench --markdown table.md

Exit status 1 when a figure of ours is missing or NaN (a worker failed), 0 otherwise: the quick
mode checks that the figures are produced, not that they are fast. See docs/benchmarks.md.
Groups are registered in ``benchmarks/groups.py`` (one line each).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time

from . import common
from .common import Figure, Settings, header_text, machine_info, render_markdown, render_text
from .groups import GROUPS, by_name


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="our side only, small sizes (CI: checks figures exist)")
    p.add_argument("--only", default="", help=f"comma-separated groups: {','.join(g.name for g in GROUPS)}")
    p.add_argument("--list", action="store_true", help="list the groups and what they measure")
    p.add_argument("--repeats", type=int, default=5, help="repeats per figure in the full run (default 5)")
    p.add_argument("--json", metavar="PATH", help="write raw results and figures as JSON")
    p.add_argument("--plots", metavar="DIR", help="write the PNG plots (lag distributions, cost vs work) into DIR")
    p.add_argument("--markdown", metavar="PATH", help="write the table as Markdown (for docs/benchmarks.md)")
    p.add_argument("--no-lazyllm", action="store_true", help="skip the LazyLLM side (its cells say why)")
    p.add_argument("--no-install", action="store_true", help="use the LazyLLM venv only if it already exists")
    p.add_argument("--lazyllm-python", metavar="PYTHON",
                   help="an interpreter that has lazyllm==1.4.0 and openai (instead of benchmarks/out/lazyllm-venv)")
    return p


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for g in GROUPS:
            print(f"{g.name:12s} {g.about}{'' if g.quick else '  (not in --quick)'}")
        return 0
    command = "python -m benchmarks" + ("" if not (argv or sys.argv[1:]) else " " + shlex.join(argv or sys.argv[1:]))
    known = by_name()
    names = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = [g for g in names if g not in known]
    if unknown:
        _parser().error(f"unknown group(s) {unknown}; choose from {','.join(known)}")
    groups = [known[n] for n in names] if names else [g for g in GROUPS if g.quick or not args.quick]
    needs = set().union(*(g.needs for g in groups)) if groups else set()
    started = time.perf_counter()
    settings = Settings(quick=args.quick, repeats=max(1, args.repeats), log=log)

    if args.quick:
        settings.lazyllm_reason = "--quick runs our side only"
    elif args.no_lazyllm:
        settings.lazyllm_reason = "--no-lazyllm"
    elif "lazyllm" in needs:
        from . import lazyllm_env

        log("LazyLLM 1.4.0: checking its venv (benchmarks/out/lazyllm-venv)")
        py, reason = lazyllm_env.ensure(log, install=not args.no_install, python=args.lazyllm_python)
        settings.lazyllm_python, settings.lazyllm_reason = py, reason
        log(f"  {'ready: ' + py if py else 'not available: ' + reason}")

    info = machine_info(settings)
    figures: list[Figure] = []
    server = None
    try:
        if "server" in needs:
            from .model_server import ModelServer

            server = ModelServer().__enter__()
            settings.base_url = server.base_url
            log(f"model server: {server.base_url} (benchmarks/model_server.py, its own process)")
        for group in groups:
            t0 = time.perf_counter()
            log(f"[{group.name}]")
            try:
                module = importlib.import_module(group.module)
                figures.extend(module.run(settings))
            except Exception as exc:  # a broken group must not hide the others
                log(f"  group {group.name} FAILED: {type(exc).__name__}: {exc}")
                figures.append(Figure(group.name, f"{group.name}_failed", f"{group.name}: group failed", "",
                                      {"ours": common.unavailable(f"error: {type(exc).__name__}: {exc}"[:200])}))
            log(f"  {group.name}: {time.perf_counter() - t0:.0f} s")
    finally:
        if server is not None:
            server.__exit__(None, None, None)

    elapsed = time.perf_counter() - started
    header = header_text(info, command)
    print(header)
    print()
    print(render_text(figures, verdicts=not args.quick))
    print()
    print(f"elapsed: {elapsed:.0f} s")
    missing = [f for f in figures if f.missing_ours()]
    if args.quick:
        produced = len(figures) - len(missing)
        print(f"quick mode: {produced} of {len(figures)} figures produced at reduced sizes; targets are judged "
              "only by the full run on a quiet machine (python -m benchmarks)")
    if missing:
        print(f"MISSING: {len(missing)} figure(s) of ours have no value: " + "; ".join(f.label for f in missing))
    if not args.quick:
        misses = [f for f in figures if f.verdict() == "MISSED"]
        if misses:
            print(f"targets missed: {len(misses)}: " + "; ".join(f.label for f in misses))

    if args.plots:
        from .plot import write_plots

        for line in write_plots(settings, args.plots, subtitle=f"{info['cpu']}, {info['cores']} cores"):
            log(line)
    if args.json:
        payload = {
            "command": command,
            "machine": info,
            "elapsed_s": elapsed,
            "figures": [f.to_json() for f in figures],
            "extra": settings.extra,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1, default=str)
        log(f"raw results written: {args.json}")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("```\n" + header + "\n```\n\n" + render_markdown(figures, verdicts=not args.quick)
                    + f"\n\nelapsed: {elapsed:.0f} s\n")
        log(f"markdown table written: {args.markdown}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
