"""The external engines: MathJax 3 (a persistent node process), verovio (a persistent Python child, because malformed
**kern can kill the process that parses it) and resvg for SVG -> pixels.

Each child speaks one JSON object per line. A crash or a timeout kills it and raises RenderError for that sample
only; the next call starts a fresh child. Children are per process (a forked worker starts its own).
"""

from __future__ import annotations

import io
import json
import os
import re
import selectors
import subprocess
import sys
from pathlib import Path

import resvg_py
from PIL import Image

NODE_DIR = Path(os.environ.get("GOT_NODE_DIR", "~/.cache/got/node")).expanduser()  # npm prefix of mathjax-full


class RenderError(RuntimeError):
    """One sample could not be rendered; the caller skips it."""


class Worker:
    def __init__(self, argv: list[str], env: dict | None = None, timeout: float = 30.0):
        self.argv, self.env, self.timeout = argv, env, timeout
        self.proc: subprocess.Popen | None = None
        self.pid = None  # the process that started the child: a forked copy must not share its pipes

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self.pid = os.getpid()

    def close(self) -> None:
        if self.proc is not None and self.pid == os.getpid():
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __call__(self, request: dict) -> dict:
        if self.proc is None or self.pid != os.getpid() or self.proc.poll() is not None:
            self._start()
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            with selectors.DefaultSelector() as sel:
                sel.register(self.proc.stdout, selectors.EVENT_READ)
                ready = sel.select(self.timeout)
            line = self.proc.stdout.readline() if ready else ""
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            what = "timed out" if self.proc.poll() is None else f"died (exit {self.proc.returncode})"
            self.close()
            raise RenderError(f"{Path(self.argv[0]).name} child {what}")
        reply = json.loads(line)
        if "error" in reply:
            raise RenderError(reply["error"])
        return reply


_MATHJAX_JS = r"""
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');
const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({packages: AllPackages, formatError: (jax, err) => { throw err; }});
const doc = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});
require('readline').createInterface({input: process.stdin}).on('line', line => {
  let out;
  try {
    const req = JSON.parse(line);
    out = {svg: adaptor.innerHTML(doc.convert(req.tex, {display: req.display}))};
  } catch (e) { out = {error: 'MathJax: ' + (e.message || String(e))}; }
  process.stdout.write(JSON.stringify(out) + '\n');
});
"""

_VEROVIO_PY = r"""
import json, sys, verovio
verovio.enableLog(verovio.LOG_OFF)
tk = verovio.toolkit()
for line in sys.stdin:
    req = json.loads(line)
    tk.setOptions(req["options"])
    if not tk.loadData(req["data"]):
        out = {"error": "verovio rejected the input"}
    else:
        out = {"svg": tk.renderToSVG(1), "pages": tk.getPageCount()}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""

_workers: dict[str, Worker] = {}


def _worker(name: str) -> Worker:
    if name not in _workers:
        if name == "mathjax":
            if not (NODE_DIR / "node_modules" / "mathjax-full").is_dir():
                raise RuntimeError(f"mathjax-full is not under {NODE_DIR}; run scripts/setup_system.sh")
            _workers[name] = Worker(["node", "-e", _MATHJAX_JS], env={"NODE_PATH": str(NODE_DIR / "node_modules")})
        else:
            _workers[name] = Worker([sys.executable, "-c", _VEROVIO_PY])
    return _workers[name]


def svg_to_image(svg: str, *, font_files: list[str] = ()) -> Image.Image:
    # skip_system_fonts: scanning every installed font costs ~0.1 s a call; callers name the few they need
    png = resvg_py.svg_to_bytes(svg_string=svg, skip_system_fonts=True, font_files=list(font_files) or None)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


_VIEWBOX = re.compile(r'viewBox="([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+)"')


def mathjax_svg(latex: str, display: bool = True) -> str:
    """LaTeX -> MathJax's own SVG: sized in ex, drawn in currentColor, every glyph a path (no shared font cache, so
    each SVG stands alone in a page). A TeX error raises RenderError with MathJax's message."""
    return _worker("mathjax")({"tex": latex, "display": display})["svg"]


def mathjax(latex: str, size: float, *, display: bool = True, color: str = "#000000") -> tuple[Image.Image, int]:
    """LaTeX -> (RGBA image, depth below the baseline in px), typeset at `size` px per em."""
    svg = mathjax_svg(latex, display)
    _, miny, w, h = (float(v) for v in _VIEWBOX.search(svg).groups())
    scale = size / 1000  # MathJax draws in thousandths of an em
    svg = re.sub(r'width="[^"]*"', f'width="{w * scale:.2f}"', svg, count=1)
    svg = re.sub(r'height="[^"]*"', f'height="{h * scale:.2f}"', svg, count=1)
    image = svg_to_image(svg.replace("currentColor", color))
    return image, round((h + miny) * scale)


def verovio(data: str, options: dict) -> tuple[str, int]:
    """Humdrum/MEI text -> (SVG of page 1, page count), rendered in the child process."""
    reply = _worker("verovio")({"data": data, "options": options})
    return reply["svg"], reply["pages"]
