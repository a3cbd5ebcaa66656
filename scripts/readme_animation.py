#!/usr/bin/env python3
"""Make the README's moving picture of a run: real JupyterLab, real browser, light and dark.

    python scripts/readme_animation.py            # writes docs/screenshots/run-light.png and run-dark.png

A notebook starts the scripted model in its kernel (slowed down so the stages can be seen) and asks the
seed's weather agent; headless chromium (Debian's, through Playwright) photographs the widget's cell while
it works: the answer streaming, the trace filling in, a tool call's arguments arriving, then the finished
run with its waterfall, its formulas and a selected span's details. Pillow joins the frames into an
animated PNG (every browser shows it; GitHub's README too).

Needs what the browser tests need: the built bundle (``npm run build``), chromium at /usr/bin/chromium,
Python playwright, jupyterlab; and Pillow (``pip install pillow``).
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.jupyter import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    JupyterServer,
    NotebookPage,
    wait_for,
    write_notebook,
)

OUT = REPO / "docs" / "screenshots"
WIDTH = 960  # px of the finished picture

SETUP = '''
import lazystream_widget as lsw
import lazystream_widget.demo  # the seed's tools
from lazystream_widget import OnlineChatModule, StreamView
from lazystream_widget.tools import FunctionCallAgent
from lazystream_widget.testing import Reply, ScriptedServer, ToolCall

lsw.configure(prices={"scripted": (2.5, 10.0)})
ANSWER = ("Tokyo is **10 °C** and Paris **22 °C** today.\\n\\n"
          "Their mean is $\\\\bar t = \\\\frac{10 + 22}{2} = 16$ °C; the spread is\\n\\n"
          "$$\\n\\\\sigma = \\\\sqrt{\\\\tfrac{1}{2}\\\\sum_i (t_i - \\\\bar t)^2} = 6\\\\ \\\\text{°C}\\n$$\\n\\n"
          "| city | °C |\\n|---|---|\\n| Tokyo | 10 |\\n| Paris | 22 |\\n\\nA light jacket in Tokyo will do.\\n")
server = ScriptedServer([
    Reply(text="Let me check both cities. ", reasoning="Two cities: two calls.", tool_calls=[
        ToolCall("get_current_weather", {"location": "Tokyo, Japan", "unit": "celsius"}),
        ToolCall("get_current_weather", {"location": "Paris, France", "unit": "celsius"}),
    ], delay=0.09),
    Reply(text=ANSWER, delay=0.06),
]).start()
agent = FunctionCallAgent(OnlineChatModule(base_url=server.base_url, model="scripted", stream=True),
                          ["get_current_weather", "get_n_day_weather_forecast"])
'''
ASK = 'view = StreamView(agent)\nrun = view.ask("What\'s the weather like today in celsius in Tokyo and Paris?")'


def _shot(page, cell) -> bytes:
    page.mouse.move(0, 0)
    return cell.screenshot(animations="disabled")


def capture(theme: str, lab: JupyterServer, browser) -> list[tuple[bytes, int]]:
    """Frames (PNG bytes, ms to show) of one run, in ``theme``."""
    name = f"animation-{theme}.ipynb"
    write_notebook(lab.root / name, [SETUP, ASK])
    ctx = browser.new_context(viewport={"width": 1180, "height": 1300}, device_scale_factor=1)
    page = ctx.new_page()
    try:
        nbp = NotebookPage(page, lab, name).open()
        nbp.js("await app.commands.execute('apputils:change-theme', {theme: arg});",
               "JupyterLab Dark" if theme == "dark" else "JupyterLab Light")
        wait_for(lambda: page.evaluate("() => document.body.dataset.jpThemeLight")
                 == ("false" if theme == "dark" else "true"), 20, "the theme")
        nbp.js("app.commands.execute('application:toggle-left-area');")
        nbp.run_cell(0)
        nbp.wait_cells_done(upto=1)
        nbp.run_cell(1)
        cell = page.locator(".jp-Cell", has=page.locator(".lsw-root")).first
        cell.wait_for()
        frames: list[tuple[bytes, int]] = []
        run = page.locator(".lsw-run").first
        # 1. a tool call's arguments arriving: the streamed row, before its tool span
        wait_for(lambda: run.locator('.lsw-node[data-call="true"]').count() > 0, 30, "a streamed tool-call row")
        page.wait_for_timeout(250)
        frames.append((_shot(page, cell), 1400))
        # 2-4. the answer streaming and the tree filling in
        wait_for(lambda: len(run.locator(".lsw-answer").inner_text()) > 20, 30, "the answer to start")
        for _ in range(3):
            frames.append((_shot(page, cell), 700))
            page.wait_for_timeout(600)
        wait_for(lambda: run.get_attribute("data-status") == "done", 60, "the run to end")
        page.wait_for_timeout(400)
        # 5. the finished run: waterfall, formulas, roll-ups
        frames.append((_shot(page, cell), 1600))
        # 6. a span selected: its details, the answer it wrote marked
        run.locator('.lsw-node[data-kind="llm"]').nth(1).click()
        page.wait_for_timeout(300)
        frames.append((_shot(page, cell), 2600))
        # 7. the tool call's details: arguments as a table
        run.locator('.lsw-node[data-kind="tool"]').first.click()
        page.wait_for_timeout(300)
        frames.append((_shot(page, cell), 2200))
        return frames
    finally:
        ctx.close()


def write_apng(frames: list[tuple[bytes, int]], path: Path) -> None:
    from PIL import Image

    images = [Image.open(io.BytesIO(png)).convert("RGB") for png, _ in frames]
    # one size for all (the cell grows while the run streams): the largest, new areas filled with its colour
    w = max(i.width for i in images)
    h = max(i.height for i in images)
    fill = images[-1].getpixel((2, 2))
    canvas = []
    for im in images:
        c = Image.new("RGB", (w, h), fill)
        c.paste(im, (0, 0))
        scale = WIDTH / w
        canvas.append(c.resize((WIDTH, round(h * scale)), Image.LANCZOS) if scale < 1 else c)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas[0].save(path, save_all=True, append_images=canvas[1:], duration=[d for _, d in frames], loop=0,
                   optimize=True)
    print(f"readme animation: {path} ({path.stat().st_size // 1024} KiB, {len(canvas)} frames)")


def main() -> int:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="lsw-animation-"))
    lab = JupyterServer("lab", root=home / "root", home=home / "home").start()
    started = time.time()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                for theme in ("light", "dark"):
                    write_apng(capture(theme, lab, browser), OUT / f"run-{theme}.png")
                    lab.shutdown_all_kernels()
            finally:
                browser.close()
    finally:
        lab.stop()
    print(f"readme animation: done in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
