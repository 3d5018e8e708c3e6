"""The calls of docs/inference.md on the demo's final model, with held-out images of the demo written to
runs/demo/examples/ (run `make demo` first).

    python scripts/demo_examples.py
"""

from pathlib import Path

import got
from got.data.shards import read_samples

DEMO = Path("runs/demo")


def first(held_out: str, want=lambda sample: True):
    return next(s for _, s in read_samples(str(DEMO / "shards" / f"heldout_{held_out}")) if want(s))


def main() -> None:
    out = DEMO / "examples"
    out.mkdir(exist_ok=True)
    line, bold, boxed = first("lines"), first("markdown", lambda s: s.text.startswith("**")), first("finegrained")
    for name, sample in (("line", line), ("bold", bold), ("boxed", boxed)):
        sample.images[0].save(out / f"{name}.png")
        print(f"{name}.png: label {sample.text!r}" + (f", box {sample.extra['pixel_box']}" if sample.box else ""))
    m = got.load(DEMO / "stage3" / "final")
    line_png, bold_png, boxed_png = (str(out / f"{n}.png") for n in ("line", "bold", "boxed"))
    print("chat:", repr(m.chat(line_png)))
    print("chat, box:", repr(m.chat(boxed_png, box=tuple(boxed.extra["pixel_box"]))))
    print("chat, format:", repr(m.chat(bold_png, ocr_type="format")))
    print("ocr:", m.ocr([line_png, bold_png], batch_size=2))
    print("stream:", list(m.chat(line_png, stream=True)))
    print("chat_crop:", repr(m.chat_crop(line_png)))
    m.chat(bold_png, ocr_type="format", render=True, save_render_file=str(out / "bold.html"))
    print(f"render: {out / 'bold.html'}, {(out / 'bold.html').stat().st_size} bytes")


if __name__ == "__main__":
    main()
