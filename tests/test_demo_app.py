"""The local web demo (got/infer/app.py, eval/demo_app.py) on a tiny random checkpoint: driven in Debian's headless
Chromium (upload, run, a box drawn with the mouse, a PDF page, errors in the page), and its JSON endpoints over
plain HTTP. Every answer is compared with the model API's own on the same file (`got.load(ckpt).chat(...)`)."""

import base64
import http.client
import json
import shutil
import sys
import threading

import pytest
from playwright.sync_api import expect, sync_playwright

import got
from got.infer.app import MAX_BODY, Demo, DemoServer
from got.infer.html import render_page

from conftest import ROOT
from datagen import free_port, write_pdf
from test_infer_api import NEW, model_dir, page_png  # noqa: F401  (module-scoped tiny checkpoint and 896x640 page)

sys.path.insert(0, str(ROOT / "eval"))
import demo_app as cli  # noqa: E402  (eval/demo_app.py, the entry script)

CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (scripts/setup_system.sh)"
)


@pytest.fixture(scope="module")
def api(model_dir):  # noqa: F811
    """The model API on its own load of the checkpoint: the truth the server's answers are compared with."""
    return got.load(model_dir)


@pytest.fixture(scope="module")
def server(model_dir):  # noqa: F811
    """The server as eval/demo_app.py builds it, on a free port, in a thread."""
    srv = DemoServer(("127.0.0.1", 0), Demo(got.load(model_dir), "tiny", max_new_tokens=NEW))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture(scope="module")
def files(tmp_path_factory, page_png):  # noqa: F811
    folder = tmp_path_factory.mktemp("uploads")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return {
        "page": page_png,
        "pdf": write_pdf(folder / "doc.pdf"),
        "broken": folder / "broken.png",
        "locked": write_pdf(folder / "locked.pdf", encrypt=True),
    }


# --- plain HTTP -----------------------------------------------------------------------------------------------------


def post(server, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def ask(server, path: str, file, **fields) -> tuple[int, bytes]:
    payload = {"file": base64.b64encode(file.read_bytes()).decode(), "name": file.name, **fields}
    return post(server, path, json.dumps(payload).encode())


def events(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.decode().splitlines()]


@pytest.mark.parametrize(
    "fields, call",
    [
        (dict(), lambda m, f: m.chat(f, max_new_tokens=NEW)),
        (dict(type="format", color="red"), lambda m, f: m.chat(f, "format", color="red", max_new_tokens=NEW)),
        (dict(box=[100, 200, 400, 300]), lambda m, f: m.chat(f, box=(100, 200, 400, 300), max_new_tokens=NEW)),
        (dict(crop=True), lambda m, f: m.chat_crop(f, max_new_tokens=NEW)),
    ],
)
def test_answers_equal_the_api(server, api, files, fields, call):
    status, body = ask(server, "/api/ocr", files["page"], **fields)
    assert status == 200
    stream = events(body)
    expected = call(api, files["page"])
    pieces = [e["piece"] for e in stream if "piece" in e]
    assert len(set(expected)) > 2 and len(pieces) > 2
    assert "".join(pieces) == stream[-1]["text"] == expected
    assert stream[0]["options"]["box"] == fields.get("box")


def test_pdf_page_preview_is_the_image_the_model_reads(server, api, files):
    status, body = ask(server, "/api/preview", files["pdf"], page=2)
    preview = json.loads(body)
    assert status == 200 and preview["pages"] == 2 and preview["page"] == 2
    assert (preview["width"], preview["height"]) == api.open((files["pdf"], 2)).size
    assert preview["image"].startswith("data:image/jpeg;base64,")
    status, body = ask(server, "/api/ocr", files["pdf"], page=2, type="format")
    assert status == 200 and events(body)[-1]["text"] == api.chat((files["pdf"], 2), "format", max_new_tokens=NEW)


@pytest.mark.parametrize(
    "file, fields, status, message",
    [
        ("broken", dict(), 400, "broken.png is not a readable image"),
        ("page", dict(box=[0, 0, 1000, 10]), 400, "box [0, 0, 1000, 10] lies outside page.png (896x640 pixels)"),
        ("page", dict(box=[300, 0, 100, 10]), 400, "x1 <= x2"),
        ("page", dict(box=["1", 2, 3, 4]), 400, "box must be numbers"),
        ("page", dict(crop=True, color="red"), 400, "multi-crop reads the whole page"),
        ("page", dict(color="purple"), 400, "unknown colour 'purple'"),
        ("locked", dict(), 400, "locked.pdf is encrypted (password-protected)"),
        ("pdf", dict(page=3), 400, "doc.pdf has 2 pages; page 3 does not exist"),
    ],
)
def test_bad_inputs_answer_one_line(server, files, file, fields, status, message):
    for path in ("/api/ocr", "/api/preview") if set(fields) <= {"page"} else ("/api/ocr",):  # preview: no options
        got_status, body = ask(server, path, files[file], **fields)
        error = json.loads(body)["error"]
        assert got_status == status and message in error, error
        assert "\n" not in error and "Traceback" not in error and "got-demo-" not in error  # no temp folder named


def test_bad_requests_are_refused_and_the_server_goes_on(server, files):
    assert post(server, "/api/ocr", b"{not json")[0] == 400
    assert post(server, "/api/ocr", b"[1, 2]")[0] == 400
    assert post(server, "/api/ocr", b'{"file": "***"}') == (400, b'{"error": "the file is not base64-encoded"}')
    assert post(server, "/api/ocr", b"{}", {"Content-Type": "text/plain"})[0] == 415
    assert post(server, "/api/elsewhere", b"{}")[0] == 404
    # over the cap: refused on its Content-Length, before a byte of the body is read (none is sent)
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.putrequest("POST", "/api/ocr")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "over the 64 MB cap" in json.loads(response.read())["error"]
    conn.close()
    assert ask(server, "/api/preview", files["page"])[0] == 200


def test_cli_errors_are_one_line(model_dir, capsys):  # noqa: F811
    assert cli.main([str(model_dir.parent / "missing"), "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    port = free_port()
    with DemoServer(("127.0.0.1", port), None):  # the port is taken
        assert cli.main([str(model_dir), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# --- headless Chromium --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh tab on the demo, wide enough for the three columns (the image then shows at about half size); it
    records every URL the page asks for."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.requested = []
    tab.on("request", lambda request: tab.requested.append(request.url))
    tab.goto(server.url)
    yield tab
    context.close()


def upload(page, file) -> None:
    page.set_input_files("#file", str(file))
    page.wait_for_selector("#stage:not([hidden])")


def run(page) -> dict:
    """Click Run and wait for the answer; returns the JSON the page posted."""
    with page.expect_request("**/api/ocr") as request:
        page.click("#run")
    page.wait_for_selector("#status[data-state=done], #status[data-state=error]", state="attached")
    return request.value.post_data_json


def download(page, link: str) -> str:
    with page.expect_download() as d:
        page.click(link)
    return open(d.value.path(), encoding="utf-8").read()


@needs_chromium
def test_upload_and_read_in_the_page(page, server, api, files):
    upload(page, files["page"])
    assert "896 × 640 px" in page.inner_text("#size")
    sent = run(page)
    answer = api.chat(files["page"], max_new_tokens=NEW)
    assert sent["type"] == "ocr" and sent["box"] is None and page.inner_text("#error") == ""
    assert page.inner_text("#text") == answer and len(set(answer)) > 2
    assert page.inner_text("#render .got-plain") == answer  # the rendering beside the text
    assert download(page, "#dl-text") == answer
    shown = api.open(files["page"])
    assert download(page, "#dl-page") == render_page(answer, kind="text", title="page.png", image=shown)
    # nothing from the network: every request went to the demo's server (or stayed in the page)
    assert page.requested and all(u.startswith((server.url, "data:", "blob:")) for u in page.requested), page.requested


@needs_chromium
def test_a_box_drawn_on_the_smaller_image_is_sent_in_image_pixels(page, api, files):
    upload(page, files["page"])
    area = page.locator("#canvas").bounding_box()
    scale = 896 / area["width"]  # image pixels per shown pixel
    assert 1.5 < scale < 2.5 and abs(640 / area["height"] - scale) < 0.01
    start = (round(area["x"] + 60), round(area["y"] + 110))  # shown pixels, corners given in reverse order
    end = (round(area["x"] + 230), round(area["y"] + 50))
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=4)
    page.mouse.up()
    expected = [
        (min(start[0], end[0]) - area["x"]) * scale,
        (min(start[1], end[1]) - area["y"]) * scale,
        (max(start[0], end[0]) - area["x"]) * scale,
        (max(start[1], end[1]) - area["y"]) * scale,
    ]
    box = run(page)["box"]
    assert len(box) == 4 and all(abs(b - e) <= 1 for b, e in zip(box, expected, strict=True)), (box, expected)
    assert page.input_value("#box") == " ".join(map(str, box))
    assert page.inner_text("#text") == api.chat(files["page"], box=box, max_new_tokens=NEW)


@needs_chromium
def test_a_pdf_page_is_chosen_and_read(page, api, files):
    upload(page, files["pdf"])
    assert page.inner_text("#pages") == "2"
    assert "the PDF page as rendered for the model" in page.inner_text("#size")
    page.fill("#page", "2")
    with page.expect_response("**/api/preview"):
        page.dispatch_event("#page", "change")
    expect(page.locator("#run")).to_be_enabled()
    page.check("input[name=type][value=format]")
    sent = run(page)
    assert sent["page"] == 2 and sent["type"] == "format"
    assert page.inner_text("#text") == api.chat((files["pdf"], 2), "format", max_new_tokens=NEW)


@needs_chromium
def test_errors_show_as_one_line_in_the_page(page, api, files):
    upload(page, files["page"])
    page.fill("#box", "0 0 2000 10")
    run(page)
    assert page.inner_text("#error") == "box [0, 0, 2000, 10] lies outside page.png (896x640 pixels)"
    page.check("input[name=mode][value=page]")  # the server is still there
    run(page)
    assert page.inner_text("#error") == "" and page.inner_text("#text") == api.chat(files["page"], max_new_tokens=NEW)
    for name, message in (("broken", "broken.png is not a readable image"), ("locked", "locked.pdf is encrypted")):
        page.set_input_files("#file", str(files[name]))
        expect(page.locator("#error")).to_contain_text(message)
        assert "\n" not in page.inner_text("#error") and page.is_hidden("#stage") and page.is_disabled("#run")
