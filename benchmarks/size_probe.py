"""Installed size of a distribution and its dependencies, run with the python of the environment.

``<python> benchmarks/size_probe.py NAME [NAME...]`` prints ``RESULT {...}``: for each root, the
dependency closure (requirements without extras, markers evaluated for this interpreter) and the
bytes of the files each distribution's RECORD lists (``importlib.metadata``), plus the whole
environment less pip and setuptools. Standard library only (markers via pip's vendored packaging).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import sys


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_size(dist: md.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        try:
            total += os.path.getsize(dist.locate_file(f))
        except OSError:
            pass
    return total


def main() -> None:
    try:
        from packaging.requirements import Requirement
    except ImportError:
        from pip._vendor.packaging.requirements import Requirement

    dists = {}
    for d in md.distributions():
        name = d.metadata["Name"]
        if name:
            dists.setdefault(norm(name), d)
    out = {}
    for root in sys.argv[1:]:
        seen: dict[str, int] = {}
        stack = [root]
        while stack:
            n = norm(stack.pop())
            if n in seen or n not in dists:
                continue
            d = dists[n]
            seen[n] = dist_size(d)
            for r in d.requires or []:
                req = Requirement(r)
                if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                    continue
                stack.append(req.name)
        out[root] = {"installed": norm(root) in dists, "dists": seen, "total": sum(seen.values())}
    env_total = sum(dist_size(d) for n, d in dists.items() if n not in ("pip", "setuptools", "wheel"))
    print("RESULT " + json.dumps({"roots": out, "env_total": env_total, "env_dists": len(dists)}))


if __name__ == "__main__":
    main()
