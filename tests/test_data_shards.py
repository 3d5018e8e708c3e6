"""Shard schema: round trip, ShardWriter (rolling, resizing, continuing, stats), URLs, and every bad-sample reason."""

import io
import json
from collections import Counter

import numpy as np
import pytest
from badinputs import encoded, png_header
from datagen import corrupt_set, meta, page, png, write_raw, write_set
from PIL import Image

from got.data.sample import Sample
from got.data.shards import BadSample, Limits, ShardWriter, expand_urls, read_samples


def test_round_trip_every_kind(tmp_path):
    samples = [
        Sample([page("plain")], "plain text", lang="en", source="a"),
        Sample([page("fmt")], "# Title\n\n$x^2$", task="format", source="b", extra={"page": 3}),
        Sample([page("box", (80, 60))], "boxed", box=(10, 20, 500, 600)),
        Sample([page("red")], "in red", color="red", lang="zh"),
        Sample([page("big", (300, 100))], "cropped", crop=True),
        Sample([page("p0"), page("p1", color="gray"), page("p2")], "three pages", task="format"),
        Sample([page("v0"), page("v1")], "pre-cut views", crop=True, task="format"),
        Sample([page("zh")], "你好，世界。\n第二行"),
    ]
    with ShardWriter(tmp_path, max_count=3) as writer:
        keys = [writer.write(s) for s in samples]
    read = list(read_samples(str(tmp_path)))
    assert [k for k, _ in read] == keys
    for original, (_, back) in zip(samples, read):
        assert back.meta() == original.meta()
        assert [im.size for im in back.images] == [im.size for im in original.images]
        assert [im.tobytes() for im in back.images] == [im.tobytes() for im in original.images]  # PNG is lossless
    assert len(list(tmp_path.glob("shard-*.tar"))) == 3


def test_writer_rolls_by_bytes_and_resizes(tmp_path):
    with ShardWriter(tmp_path, max_bytes=1, max_image_size=100) as writer:
        writer.write(Sample([page("wide", (400, 200))], "a"))
        writer.write(Sample([page("crop", (3000, 1000))], "b", crop=True))  # area capped at 100² · 12 tiles
        writer.write(Sample([page("small", (50, 40))], "c"))
    assert len(list(tmp_path.glob("*.tar"))) == 3
    sizes = [s.images[0].size for _, s in read_samples(str(tmp_path))]
    assert sizes[0] == (100, 50) and sizes[2] == (50, 40)
    assert sizes[1][0] * sizes[1][1] <= 100 * 100 * 12 and abs(sizes[1][0] / sizes[1][1] - 3) < 0.02


def test_writer_continues_a_directory_and_merges_stats(tmp_path):
    write_set(tmp_path, "a", 7, max_count=5)  # shards 0, 1
    write_set(tmp_path, "b", 3, max_count=5)  # continues at shard 2
    names = sorted(p.name for p in tmp_path.glob("*.tar"))
    assert names == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert not list(tmp_path.glob("*.tmp"))
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["samples"] == 10 and stats["shards"] == 3 and stats["source"] == {"a": 7, "b": 3}
    assert stats["kind"] == {"single": 10} and sum(stats["text_chars"].values()) == 10
    assert len(list(read_samples(str(tmp_path)))) == 10
    with pytest.raises(FileExistsError):
        with ShardWriter(tmp_path, start_index=1) as writer:
            writer.write(Sample([page()], "x"))


def test_writer_refuses_what_readers_would_skip(tmp_path):
    with ShardWriter(tmp_path) as writer:
        with pytest.raises(BadSample, match="bad_box"):
            writer.write(Sample([page()], "x", box=(10, 10, 5, 5)))
        with pytest.raises(BadSample, match="empty_text"):
            writer.write(Sample([page()], "  \n"))
        with pytest.raises(BadSample, match="single image"):
            writer.write(Sample([page(), page()], "x", color="red"))
        with pytest.raises(ValueError, match="key"):
            writer.write(Sample([page()], "x"), key="has.dot")
    with pytest.raises(ValueError, match="prefix"):
        ShardWriter(tmp_path, prefix="a/b")


def test_expand_urls(tmp_path):
    write_set(tmp_path, "a", 6, max_count=2)
    braces = str(tmp_path / "shard-{000000..000002}.tar")
    assert expand_urls(braces) == expand_urls(str(tmp_path / "*.tar")) == expand_urls(str(tmp_path))
    assert len(expand_urls([braces, "pipe:cat x.tar"])) == 4
    texts = [s.text for _, s in read_samples(f"pipe:cat {tmp_path}/shard-000001.tar")]
    assert texts == [s.text for _, s in read_samples(str(tmp_path / "shard-000001.tar"))] and len(texts) == 2
    with pytest.raises(FileNotFoundError):
        expand_urls(str(tmp_path / "missing-*.tar"))
    with pytest.raises(FileNotFoundError):
        expand_urls(str(tmp_path / "nope.tar"))


def test_every_bad_sample_is_counted_and_the_stream_goes_on(tmp_path):
    good, expected = corrupt_set(tmp_path)
    counts = Counter()
    read = list(read_samples(str(tmp_path), counts))
    assert [s.text for _, s in read] == good
    assert counts == expected
    assert [len(s.images) for _, s in read] == [1, 2, 1, 1, 1]


def test_transparency_is_composed_on_white(tmp_path):
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    with ShardWriter(tmp_path) as writer:
        writer.write(Sample([image], "clear"))
    ((_, back),) = read_samples(str(tmp_path))
    assert back.images[0].getpixel((3, 3)) == (255, 255, 255)


def test_limits_skip_before_reading_or_decoding(tmp_path):
    page_200x100 = png(page("x", (200, 100)))  # 20,000 pixels
    write_raw(
        tmp_path / "shard-000000.tar",
        [
            {"__key__": "fits", "json": meta("fits"), "png": page_200x100},
            {"__key__": "pages", "json": meta("pages"), "0.png": page_200x100, "1.png": page_200x100},  # 40,000
            {"__key__": "claims", "json": meta("claims"), "png": png_header(100_000, 100_000)},  # 10 GP in 60 bytes
        ],
    )

    def read(limits: Limits) -> tuple[list[str], Counter]:
        counts = Counter()
        return [key for key, _ in read_samples(str(tmp_path), counts, limits)], counts

    # PIL's own bomb check refuses 10 GP whatever the limits: counted under the same reason
    assert read(Limits(image_pixels=20_000, sample_pixels=40_000)) == (["fits", "pages"], {"image_too_large": 1})
    assert read(Limits(image_pixels=20_000, sample_pixels=39_999)) == (
        ["fits"],
        {"image_too_large": 1, "sample_too_large": 1},
    )
    assert read(Limits(image_pixels=19_999)) == ([], {"image_too_large": 3})
    size = len(page_200x100)
    assert read(Limits(member_bytes=size)) == (["fits", "pages"], {"image_too_large": 1})
    assert read(Limits(member_bytes=size - 1)) == ([], {"member_too_large": 2, "image_too_large": 1})


def test_odd_image_modes_decode_to_what_they_show(tmp_path):
    ramp = np.linspace(0, 65535, 256).astype(np.uint16).reshape(1, 256).repeat(4, axis=0)  # 16-bit, black to white
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # full magenta and yellow ink: red
    frames = [Image.new("RGB", (8, 8), "blue"), Image.new("RGB", (8, 8), "white")]
    animated = io.BytesIO()
    frames[0].save(animated, "PNG", save_all=True, append_images=frames[1:])
    write_raw(
        tmp_path / "shard-000000.tar",
        [
            {"__key__": "grey16", "json": meta("ramp"), "png": encoded(Image.fromarray(ramp), "PNG")},
            {"__key__": "cmyk", "json": meta("red"), "jpg": encoded(cmyk, "JPEG", quality=100)},
            {"__key__": "animated", "json": meta("first frame"), "png": animated.getvalue()},
        ],
    )
    (_, grey), (_, red), (_, first) = read_samples(str(tmp_path))
    row = np.asarray(grey.images[0])[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and abs(int(row[128]) - 128) <= 1  # scaled, not clipped to white
    assert all(abs(a - b) <= 8 for a, b in zip(red.images[0].getpixel((4, 4)), (255, 0, 0)))
    assert first.images[0].getpixel((4, 4)) == (0, 0, 255)
