"""The local web demo of a GOT model: `python eval/demo_app.py MODEL` serves one page on http://127.0.0.1:7860/.

Upload an image or a PDF (then pick the page), choose plain or format OCR and a region: the whole page, a box drawn
on the image with the mouse or typed (x1 y1 x2 y2 in pixels of the image the model reads, whatever size it is shown
at), a frame colour, or multi-crop. The answer streams into the page beside its rendering (html.render_output), and
both download: the text, and the self-contained HTML page of html.render_page. Every answer comes from the model
API, `GOT.chat` / `GOT.chat_crop` with stream=True, so it is what `got.load(MODEL).chat(...)` returns for the file.

Why a page of our own and not gradio (gradio 6.31, measured on the 2-core machine CI runs on):
- weight: `pip install gradio` brings 13 packages this project does not otherwise have (gradio, fastapi, starlette,
  uvicorn, pydub, ...), 83 MB for gradio itself, 40 s into a fresh venv, and `import gradio` alone takes 7 s.
  This is the standard library's ThreadingHTTPServer (this file) and one HTML page (got/assets/demo_app.html).
- the one control GOT's demo needs beyond a form, a box dragged on the image in the pixels the model reads, is no
  gradio component: gr.ImageEditor hands back painted layers to recover a box from, and nothing there shows a PDF
  page as the model renders it. Here the server sends the image the model reads (a PDF page rendered as for chat,
  EXIF rotation not applied, as GOT reads it) with its true size, and the page scales the mouse to that size.
- offline: gradio checks its version and sends analytics over the network unless told not to. This page's
  Content-Security-Policy lets it load nothing but its own inline code and its own server's answers, so the browser
  itself enforces "nothing from the network".
- tests: gradio's DOM is generated Svelte that changes between releases; this page has stable ids that the
  headless Chromium test (tests/test_demo_app.py) drives.

The JSON API the page uses (any client may):
    POST /api/preview {"file": base64, "name": "scan.pdf", "page": 1}
        -> {"width", "height", "pages" (null for an image), "page", "image" (a data URI of the page, downscaled)}
    POST /api/ocr {"file", "name", "page", "type": "ocr" | "format", "box": [x1, y1, x2, y2] | [x, y] | null,
                   "color": "red" | "green" | "blue" | null, "crop": false}
        -> NDJSON: {"options": ...}, then {"piece": "..."} as the answer is decoded, then
           {"text", "kind", "html" (the rendering, a fragment), "page" (the downloadable HTML page)}; {"error"} on a
           failure once streaming began
A bad request answers 4xx {"error": one line} and the server goes on; an unexpected failure answers 500 with one
line, the traceback goes to the server's log only. Requests must be JSON (so a foreign site's form cannot post
here without a CORS preflight, which is never granted) and at most max_body bytes. One answer is decoded at a time.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import chain
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from got.infer.api import GOT
from got.infer.html import CSS, detect_kind, render_output, render_page
from got.infer.inputs import PDF_SUFFIX, ImageInput, InputError, pdf_page_count

log = logging.getLogger(__name__)

PAGE = Path(__file__).resolve().parents[1] / "assets" / "demo_app.html"
MAX_BODY = 64 * 2**20  # bytes of one request: a ~48 MB file, base64 in JSON
DISPLAY_SIDE = 1600  # px, the longest side of the image the page shows (the box is scaled to the true size)
CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class RequestError(InputError):
    """A request the server refuses before reading it as OCR input; `status` is its HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def internal(error: Exception) -> str:
    """What the page says of an unexpected failure; its traceback goes to the server's log."""
    return f"internal error ({type(error).__name__}: {one_line(error)}); see the server's log"


@dataclass(frozen=True)
class Upload:
    """An uploaded file saved for the model API: `source` is its path, or (path, page) for a PDF."""

    source: ImageInput
    name: str  # as uploaded, made safe
    pages: int | None  # a PDF's page count

    @property
    def title(self) -> str:
        return f"{self.name} page {self.source[1]}" if self.pages else self.name


def safe_name(name: object) -> str:
    """A file name that stays inside the work folder and reads like the upload's."""
    cleaned = re.sub(r"[^\w.-]", "_", Path(str(name or "")).name).lstrip(".")[-100:]
    return cleaned or "upload"


def save_upload(payload: dict, folder: Path) -> Upload:
    data = payload.get("file")
    if not isinstance(data, str) or not data:
        raise InputError("no file: upload an image or a PDF")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("the file is not base64-encoded") from None
    path = folder / safe_name(payload.get("name"))
    path.write_bytes(raw)
    if not (raw.startswith(b"%PDF-") or path.suffix.lower() == PDF_SUFFIX):
        return Upload(path, path.name, None)
    page = payload.get("page", 1)
    if not isinstance(page, int) or isinstance(page, bool):
        raise InputError(f"page must be a whole number, got {page!r}")
    return Upload((path, page), path.name, pdf_page_count(path))  # opening it names an encrypted or corrupt PDF


def options(payload: dict) -> dict:
    """The chat options of a request, as the API takes them (the API checks their values)."""
    box = payload.get("box")
    if box is not None and not (
        isinstance(box, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box)
    ):
        raise InputError("box must be numbers: x1 y1 x2 y2, or a point x y, in pixels of the image")
    crop = payload.get("crop", False)
    if not isinstance(crop, bool):
        raise InputError(f"crop must be true or false, got {crop!r}")
    return {"ocr_type": payload.get("type", "ocr"), "box": box, "color": payload.get("color") or None, "crop": crop}


@contextmanager
def workdir() -> Iterator[Path]:
    """A folder for one request's upload; messages name the upload, not the folder."""
    with tempfile.TemporaryDirectory(prefix="got-demo-") as tmp:
        try:
            yield Path(tmp)
        except InputError as e:
            raise InputError(one_line(str(e).replace(f"{tmp}/", ""))) from None


def display_uri(image: Image.Image) -> str:
    """The image as the page shows it: a JPEG data URI at most DISPLAY_SIDE px a side."""
    shown = image.copy()
    shown.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    buf = io.BytesIO()
    shown.save(buf, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


@dataclass
class Demo:
    """The model behind the page, and what the page may ask of it."""

    model: GOT
    name: str = "GOT"  # shown in the page's header
    max_new_tokens: int = 4096
    # pdfium may not be entered by two threads at once, so inputs are read one at a time (it takes milliseconds),
    # and one answer is decoded at a time
    reading: threading.Lock = field(default_factory=threading.Lock)
    decoding: threading.Lock = field(default_factory=threading.Lock)

    def preview(self, payload: dict) -> dict:
        """The image the model reads from the upload (a PDF page rendered as for chat), and its size: the space
        boxes are given in."""
        with workdir() as folder, self.reading:
            upload = save_upload(payload, folder)
            image = self.model.open(upload.source)
            page = upload.source[1] if upload.pages else None
            return {
                "width": image.width,
                "height": image.height,
                "pages": upload.pages,
                "page": page,
                "image": display_uri(image),
            }

    def run(self, payload: dict) -> Iterator[dict]:
        """The events of one answer. The first, {"options"}, comes once the input is read and checked: a bad
        input raises InputError before it."""
        with workdir() as folder:
            opts = options(payload)
            ocr_type, crop = opts["ocr_type"], opts["crop"]
            if crop and (opts["box"] is not None or opts["color"] is not None):
                raise InputError("multi-crop reads the whole page: it takes no box and no colour")
            with self.reading:  # the calls read the input now; the decoding waits for the iteration below
                upload = save_upload(payload, folder)
                if crop:
                    pieces = self.model.chat_crop(
                        upload.source, ocr_type, max_new_tokens=self.max_new_tokens, stream=True
                    )
                else:
                    pieces = self.model.chat(
                        upload.source,
                        ocr_type,
                        box=opts["box"],
                        color=opts["color"],
                        max_new_tokens=self.max_new_tokens,
                        stream=True,
                    )
            yield {"options": opts}
            text = []
            with self.decoding:
                for piece in pieces:
                    text.append(piece)
                    yield {"piece": piece}
            answer = "".join(text)
            kind = "text" if ocr_type == "ocr" else detect_kind(answer)  # as GOT.chat(render=True) renders
            with self.reading:
                image = self.model.open(upload.source)
            page = render_page(answer, kind=kind, title=upload.title, image=image)
            yield {"text": answer, "kind": kind, "html": render_output(answer, kind), "page": page}

    def page(self, nonce: str) -> str:
        upload_cap = (MAX_BODY - 2**16) * 3 // 4  # the largest file whose base64 fits a request, with room for JSON
        fields = {
            "NONCE": nonce,
            "CSS": CSS,
            "MODEL": escape(self.name),
            "MAX_NEW_TOKENS": str(self.max_new_tokens),
            "MAX_FILE": str(upload_cap),
        }
        return re.sub(r"\{\{(\w+)\}\}", lambda m: fields[m[1]], PAGE.read_text(encoding="utf-8"))


class Handler(BaseHTTPRequestHandler):
    server: DemoServer
    server_version = "got-demo"
    timeout = 120  # s a client may stall a socket read or write; decoding between writes does not count

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/":
            return self.send_json(404, {"error": f"no page {urlsplit(self.path).path}"})
        nonce = secrets.token_urlsafe(16)
        self.send_body(
            200,
            self.server.demo.page(nonce).encode(),
            "text/html; charset=utf-8",
            {"Content-Security-Policy": CSP.format(nonce=nonce)},
        )

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        route = {"/api/preview": self.preview, "/api/ocr": self.ocr}.get(path)
        try:
            if route is None:
                raise RequestError(404, f"no endpoint {path}")
            route(self.payload())
        except RequestError as e:
            self.send_json(e.status, {"error": str(e)})
        except InputError as e:
            self.send_json(400, {"error": one_line(e)})
        except Exception as e:  # noqa: BLE001 - the page gets one line, the log the traceback
            log.exception("%s failed", path)
            self.send_json(500, {"error": internal(e)})

    def payload(self) -> dict:
        if self.headers.get_content_type() != "application/json":
            raise RequestError(415, "send the request as JSON (Content-Type: application/json)")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise RequestError(411, "a request needs its Content-Length")
        if int(length) > self.server.max_body:
            self.close_connection = True  # the body is never read
            raise RequestError(
                413,
                f"the upload is {int(length) / 2**20:.1f} MB, over the "
                f"{self.server.max_body / 2**20:.0f} MB cap of a request",
            )
        try:
            payload = json.loads(self.rfile.read(int(length)))
        except ValueError:
            raise RequestError(400, "the request is not valid JSON") from None
        if not isinstance(payload, dict):
            raise RequestError(400, "the request must be a JSON object")
        return payload

    def preview(self, payload: dict) -> None:
        self.send_json(200, self.server.demo.preview(payload))

    def ocr(self, payload: dict) -> None:
        events = self.server.demo.run(payload)
        first = next(events)  # a bad input raises InputError here, before any header is sent
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()  # no length: the answer ends when the connection closes (HTTP/1.0)
        try:
            for event in chain([first], events):
                self.write_event(event)
        except (BrokenPipeError, ConnectionResetError):
            log.info("the client left before the answer ended; decoding stopped")
        except Exception as e:  # noqa: BLE001 - streaming began: the error is the stream's last line
            log.exception("/api/ocr failed while streaming")
            with suppress(OSError):
                self.write_event({"error": internal(e)})
        finally:
            events.close()  # stops decoding and removes the upload

    def write_event(self, event: dict) -> None:
        self.wfile.write(json.dumps(event, ensure_ascii=False).encode() + b"\n")

    def send_json(self, status: int, body: dict) -> None:
        self.send_body(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **(headers or {}),
        }.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], demo: Demo, max_body: int = MAX_BODY):
        super().__init__(address, Handler)
        self.demo, self.max_body = demo, max_body

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"
