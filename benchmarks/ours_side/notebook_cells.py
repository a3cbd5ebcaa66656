"""Kernel-side helpers of the JupyterLab benchmark (``benchmarks/notebook.py``): modules that stream big runs.

The notebook's cells import this (the benchmark puts the repository on the kernel's ``sys.path``).
Each module is a plain function on a query, written the way user code is: it enqueues answer text to
``FileSystemQueue()`` and opens spans, and the widget runner does the rest.
"""

from __future__ import annotations

import random
import time

WORDS = (
    "the model stream token answer widget render browser frame delta kernel trace span agent tool query "
    "result value buffer queue reader writer latency budget linear block paragraph list code fence table "
    "quote python function return index array object string number markdown parser incremental frozen"
).split()


def markdown_text(chars: int, seed: int = 7) -> str:
    """About ``chars`` characters of varied markdown: headings, paragraphs, lists, code fences, quotes, tables."""
    rnd = random.Random(seed)
    out: list[str] = []
    size = 0

    def words(lo: int, hi: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(lo, hi)))

    while size < chars:
        r = rnd.random()
        if r < 0.1:
            block = f"## {words(2, 5)}\n\n"
        elif r < 0.45:
            block = " ".join(words(6, 16).capitalize() + "." for _ in range(rnd.randint(2, 6))) + "\n\n"
        elif r < 0.65:
            block = "".join(f"- {words(4, 12)} `{rnd.choice(WORDS)}()`\n" for _ in range(rnd.randint(3, 7))) + "\n"
        elif r < 0.85:
            body = "".join(f"{rnd.choice(WORDS)}_{rnd.choice(WORDS)} = {rnd.choice(WORDS)}({rnd.randint(0, 99)})\n"
                           for _ in range(rnd.randint(3, 14)))
            block = f"```python\n{body}```\n\n"
        elif r < 0.92:
            block = f"> {words(8, 20)}.\n\n"
        else:
            rows = "".join(f"| {rnd.choice(WORDS)} | {rnd.randint(0, 999)} | {words(1, 3)} |\n"
                           for _ in range(rnd.randint(2, 5)))
            block = f"| a | b | c |\n|---|---|---|\n{rows}\n"
        out.append(block)
        size += len(block)
    return "".join(out)


def big_answer(chars: int, parts: int, seconds: float):
    """A module that streams ``chars`` characters of markdown in ``parts`` deltas over ``seconds``."""
    text = markdown_text(chars)
    step = -(-len(text) // parts)
    pieces = [text[i : i + step] for i in range(0, len(text), step)]

    def module(query: str) -> str:
        from lazystream_widget import FileSystemQueue

        q = FileSystemQueue()
        t0 = time.perf_counter()
        for i, piece in enumerate(pieces):
            pause = t0 + i * seconds / len(pieces) - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            q.enqueue(piece)
        return text

    return module


def big_trace(entries: int):
    """A module whose run writes ``entries`` trace entries: an agent span over flow steps of llm / tool spans."""

    def module(query: str) -> str:
        from lazystream_widget import FileSystemQueue
        from lazystream_widget.runtime.trace import span, start_span

        written = 2
        step = 0
        with span("planner", "agent", query):
            while written < entries:
                step += 1
                with span(f"step {step}", "flow", {"step": step}):
                    written += 2
                    for i in range(24):
                        if written + 2 > entries:
                            break
                        if i % 2 == 0:
                            sp = start_span("gpt-4o-mini", "llm", [{"role": "user", "content": f"question {i}"}],
                                            {"model": "gpt-4o-mini"})
                            sp.end(f"answer {i}", usage={"prompt_tokens": 120, "completion_tokens": 30,
                                                         "total_tokens": 150})
                        else:
                            sp = start_span("search", "tool", {"query": f"q{i}"})
                            sp.end({"hits": i})
                        written += 2
            FileSystemQueue().enqueue(f"The agent finished after {step} steps.")
        return f"The agent finished after {step} steps."

    return module
