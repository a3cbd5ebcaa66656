"""``lazyllm.globals`` / ``lazyllm.locals`` per session id, ``lazyllm.Thread`` and the pool carrying the id.

Each case starts with ``globals.clear()``: cases run on fresh threads, and a new thread may get the
ident (so LazyLLM's default session id ``tid-<ident>``) of a finished one.
"""

from __future__ import annotations

import pytest

from lazystream_widget import package

from .harness import Case, check, run_ours

CASES = [
    Case("globals_start_from_lazyllm_defaults", """
import lazyllm
lazyllm.globals.clear()
g = lazyllm.globals
missing = "raised" if not g.get("nope") and "nope" not in g else "kept"
try:
    g["nope"]
except KeyError:
    missing = "KeyError"
result = [g["user_id"], g.chat_history, g["global_parameters"], g.get("nope", "default"), missing,
          g._sid.startswith("tid-")]
""", expected=[None, {}, {}, "default", "KeyError", True]),

    Case("globals_set_get_pop_clear", """
import lazyllm
g = lazyllm.globals
g.clear()
g["answer"] = 42
g.user_id = "u1"
first = [g["answer"], g.user_id, "answer" in g]
popped = g.pop("answer")
g.clear()
result = first + [popped, "answer" in g, g.user_id]
""", expected=[42, "u1", True, 42, False, None]),

    Case("the_session_id_is_per_thread_and_carried_by_lazyllm_threads", """
import threading, lazyllm
lazyllm.globals.clear()
lazyllm.globals["k"] = "main value"
mine = lazyllm.globals._sid
seen = {}
def look(tag):
    seen[tag] = (lazyllm.globals.get("k"), lazyllm.globals._sid == mine)
    return tag
plain = threading.Thread(target=look, args=("plain",)); plain.start(); plain.join()
t = lazyllm.Thread(target=look, args=("lazy",)); t.start(); t.get_result()
with lazyllm.ThreadPoolExecutor(1) as pool:
    pool.submit(look, "pool").result()
lazyllm.pipeline(lazyllm.parallel(look, look))("branch")
result = [seen["plain"], seen["lazy"], seen["pool"], seen["branch"]]
""", expected=[(None, False), ("main value", True), ("main value", True), ("main value", True)]),

    Case("work_on_another_thread_writes_the_callers_globals", """
import lazyllm
lazyllm.globals.clear()
def write(v):
    lazyllm.globals["written"] = v
with lazyllm.ThreadPoolExecutor(1) as pool:
    pool.submit(write, "by the pool").result()
result = lazyllm.globals.get("written")
""", expected="by the pool"),

    Case("init_session_and_teardown_session", """
import lazyllm
from lazyllm import init_session, teardown_session
lazyllm.globals.clear()
lazyllm.globals["k"] = "thread default"
sid = init_session("my-session")
fresh = [lazyllm.globals._sid, lazyllm.globals.get("k")]
lazyllm.globals["k"] = "in my-session"
seen = []
t = lazyllm.Thread(target=lambda: seen.append((lazyllm.globals._sid, lazyllm.globals.get("k")))); t.start()
t.get_result()
teardown_session()
after = lazyllm.globals.get("k")
result = [sid, fresh, seen, after]
""", expected=["my-session", ["my-session", None], [("my-session", "in my-session")], None]),

    Case("locals_are_per_task_and_fall_back_to_globals", """
import lazyllm
lazyllm.globals.clear()
lazyllm.globals["shared"] = "from globals"
lazyllm.locals["mine"] = "caller local"
def look():
    return [lazyllm.locals.get("mine"), lazyllm.locals["shared"]]
with lazyllm.ThreadPoolExecutor(1) as pool:
    isolated = pool.submit(look).result()
with lazyllm.ThreadPoolExecutor(1, local_scope="inherit") as pool:
    inherited = pool.submit(look).result()
t = lazyllm.Thread(target=look, local_scope="inherit"); t.start()
result = [isolated, inherited, t.get_result(), lazyllm.locals["mine"]]
""", expected=[[None, "from globals"], ["caller local", "from globals"], ["caller local", "from globals"],
               "caller local"]),

    Case("parallel_branches_get_a_copy_of_the_callers_locals", """
import lazyllm
lazyllm.locals["bag"] = {"a": 1}
def branch(x):
    lazyllm.locals["bag"]["added"] = x
    return sorted(lazyllm.locals["bag"])
out = lazyllm.parallel(branch, branch)(5)
result = [out, sorted(lazyllm.locals["bag"])]
""", expected=[package(["a", "added"], ["a", "added"]), ["a"]]),

    Case("thread_get_result_returns_or_raises", """
import lazyllm
calls = []
t = lazyllm.Thread(target=lambda a, b=0: a + b, args=(2,), kwargs={"b": 3}, prehook=lambda: calls.append("hook"))
t.start()
ok = t.get_result()
def fail():
    raise ValueError("the target failed")
bad = lazyllm.Thread(target=fail); bad.start()
try:
    bad.get_result()
except ValueError as exc:
    err = str(exc)
result = [ok, calls, err]
""", expected=[5, ["hook"], "the target failed"]),

    Case("a_thread_with_a_bad_local_scope", """
import lazyllm
lazyllm.Thread(target=print, local_scope="shared")
""", raises=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sessions_match_lazyllm(case: Case, lazyllm_results: dict) -> None:
    check(case, run_ours(case), lazyllm_results[case.name])
