"""Small shard sets for the data tests: tiny images, a unique text per sample, and hand-made raw samples."""

import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import webdataset as wds
from PIL import Image, ImageDraw

from got.data.sample import SCHEMA_VERSION, Sample
from got.data.shards import ShardWriter


def page(text: str = "", size: tuple[int, int] = (64, 48), color: str = "white") -> Image.Image:
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).text((2, 2), text[:12], fill="black")
    return image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def meta(text: str = "text", **fields) -> bytes:
    record = {"v": SCHEMA_VERSION, "task": "ocr", "text": text, "lang": "en", "source": "test", **fields}
    return json.dumps(record).encode()


def write_set(out_dir: Path, name: str, n: int, *, max_count: int = 5, words: int = 3, **fields) -> list[str]:
    """n samples with texts "{name}{i} w w ..." in shards of max_count; returns the texts in write order."""
    texts = [f"{name}{i} " + " ".join(["word"] * (words + i % 4)) for i in range(n)]
    with ShardWriter(out_dir, max_count=max_count) as writer:
        for text in texts:
            writer.write(Sample([page(text)], text, source=name, **fields))
    return texts


def write_raw(path: Path, records: list[dict]) -> bytes:
    """A shard of raw records ({"__key__": ..., extension: bytes}) written as given; returns its bytes."""
    with wds.TarWriter(str(path), encoder=False) as tar:
        for record in records:
            tar.write(record)
    return path.read_bytes()


def corrupt_set(tmp_path) -> tuple[list[str], Counter]:
    """Three shards with every kind of bad sample; returns the good texts and the expected skip counts."""
    good = png(page("ok"))
    truncated_png = good[: len(good) // 2]
    write_raw(tmp_path / "shard-000000.tar", [
        {"__key__": "good0", "json": meta("good0"), "png": good},
        {"__key__": "badjson", "json": b"{not json", "png": good},
        {"__key__": "garbage", "json": meta(), "png": b"garbage bytes"},
        {"__key__": "cutpng", "json": meta(), "png": truncated_png},
        {"__key__": "noimage", "json": meta()},
        {"__key__": "empty", "json": meta("   "), "png": good},
        {"__key__": "latin1", "json": '{"v": 1, "text": "caf\xe9"}'.encode("latin-1"), "png": good},
        {"__key__": "surrogate", "json": meta("\ud800"), "png": good},
        {"__key__": "extrajson", "json": meta(color_name="red"), "png": good},
        {"__key__": "extramember", "json": meta(), "png": good, "txt": b"x"},
        {"__key__": "badbox", "json": meta(box=[10, 10, 5, 5]), "png": good},
        {"__key__": "floatbox", "json": meta(box=[0.1, 0, 5, 5]), "png": good},
        {"__key__": "nolang", "json": json.dumps({"v": 1, "task": "ocr", "text": "x"}).encode(), "png": good},
        {"__key__": "nojson", "png": good},
        {"__key__": "badtask", "json": meta(task="poem"), "png": good},
        {"__key__": "pagegap", "json": meta(), "0.png": good, "2.png": good},
        {"__key__": "good1", "json": meta("good1"), "0.png": good, "1.png": good},
    ])  # fmt: skip
    data = write_raw(tmp_path / "shard-000001.tar", [
        {"__key__": "good2", "json": meta("good2"), "png": good},
        {"__key__": "good3", "json": meta("good3"), "png": good},
        {"__key__": "lost", "json": meta("lost"), "png": png(page("x", (400, 400)))},
    ])  # fmt: skip
    with tarfile.open(tmp_path / "shard-000001.tar") as tar:
        last = tar.getmembers()[-1]
    (tmp_path / "shard-000001.tar").write_bytes(data[: last.offset_data + last.size // 2])  # cut inside it
    write_raw(tmp_path / "shard-000002.tar", [{"__key__": "good4", "json": meta("good4"), "png": good}])
    expected = Counter(
        bad_json=1, bad_image=2, missing_image=2, empty_text=1, non_utf8=2, extra_key=2, bad_box=2,
        missing_key=2, bad_value=1, tar_error=1,
    )  # fmt: skip
    return [f"good{i}" for i in range(5)], expected


def answers(batch: dict, tokenizer) -> list[str]:
    """The labelled text of each sample in a packed batch, in order (a sample starts where position_ids is 0)."""
    out = []
    for labels, positions in zip(batch["labels"], batch["position_ids"]):
        starts = (positions == 0).nonzero().flatten().tolist() + [len(positions)]
        for a, b in zip(starts, starts[1:]):
            target = [int(t) for t in labels[a:b] if t != -100]
            if target:
                out.append(tokenizer.decode(target))
    return out
