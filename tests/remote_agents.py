"""The agent module that worker processes run in the attach tests (written into each test's directory)."""

from __future__ import annotations

import textwrap

#: ``agent(query)`` streams ``{n}`` words ``{word}0 {word}1 ...`` one every ``{delay}`` s inside one span named
#: ``{span}``, and returns ``{result}``. Fill the placeholders with :func:`agent_source`.
_SOURCE = textwrap.dedent('''
    import time
    import lazystream_widget as lsw
    from lazystream_widget.runtime.trace import span

    def agent(query):
        q = lsw.FileSystemQueue()
        with span({span!r}, "agent"):
            for i in range({n}):
                q.enqueue(f"{word}{{i}} ")
                time.sleep({delay})
        return {result!r}
''')


def agent_source(*, n: int, word: str, delay: float, span: str, result: str) -> str:
    return _SOURCE.format(n=n, word=word, delay=delay, span=span, result=result)


def answer_of(n: int, word: str) -> str:
    return "".join(f"{word}{i} " for i in range(n))
