"""The streaming loader: batch format (through the tiny model), views, validation, length policy, mixture
proportions, the rank/worker split, determinism and exact resume."""

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
import torch
from datagen import answers, corrupt_set, meta, page, png, write_raw, write_set
from PIL import Image

from got.config import load_model_config
from got.data.pipeline import (
    DataConfig,
    Loader,
    ShardSet,
    Slot,
    load_views,
    mixture_stream,
    prepare,
    set_stream,
    start_position,
)
from got.data.sample import Sample
from got.data.shards import BadSample, ShardWriter, expand_urls
from got.model.views import Views, tile
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer

SMALL = {"max_tokens": 160, "pack_window_rows": 2, "shuffle_buffer": 4}
VIEWS = Views(size=32, tokens=4)


@pytest.fixture(scope="module")
def tok():
    return GOTTokenizer.default()


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    texts = {
        "a": write_set(root / "a", "a", 24, max_count=4),
        "b": write_set(root / "b", "b", 12, max_count=4),
        "c": write_set(root / "c", "c", 8, max_count=4),
    }
    return root, texts


def take(loader, n):
    return [batch for _, batch in zip(range(n), loader)]


def test_batches_feed_the_tiny_model(sets, tok):
    root, _ = sets
    model_cfg = load_model_config("tiny_qwen")
    vision = model_cfg.vision
    cfg = DataConfig(sets=[{"urls": str(root / "a")}], max_tokens=400, num_workers=0, augment="strong")
    batch = next(iter(Loader(cfg, tok, model_cfg.views)))
    assert set(batch) == {"input_ids", "labels", "position_ids", "images"}
    assert batch["images"].dtype == torch.uint8 and batch["images"].shape[1:] == (3, 128, 128)
    assert int((batch["input_ids"] == tok.imgpad_id).sum()) == len(batch["images"]) * vision.tokens_per_view
    labelled = batch["labels"] != -100
    assert torch.equal(batch["labels"][labelled], batch["input_ids"][labelled])  # aligned, not shifted
    assert int((batch["position_ids"] == 0).sum()) >= 2  # packed: several samples (and padding) per row
    torch.manual_seed(0)
    loss = GOTModel(model_cfg)(**batch)
    assert torch.isfinite(loss)


def test_padded_batches(sets, tok):
    root, texts = sets
    cfg = DataConfig(sets=[ShardSet(str(root / "a"))], packing=False, batch_rows=3, num_workers=0, **SMALL)
    batch = next(iter(Loader(cfg, tok, VIEWS)))
    assert set(batch) == {"input_ids", "labels", "attention_mask", "images"} and len(batch["input_ids"]) == 3
    lengths = batch["attention_mask"].sum(1)
    assert lengths.tolist() == sorted(lengths.tolist())  # a window is sorted by length: little padding
    assert int((batch["input_ids"] == tok.imgpad_id).sum()) == len(batch["images"]) * 4


def test_views_of_crop_and_page_samples(tmp_path, tok):
    quadrants = Image.new("RGB", (200, 100), "red")
    quadrants.paste("blue", (100, 0, 200, 100))
    pages = [Image.new("RGB", (40, 60), c) for c in ("green", "blue", "white")]
    with ShardWriter(tmp_path) as writer:
        writer.write(Sample([quadrants], "two tiles", crop=True))
        writer.write(Sample(pages, "three pages"))
    cfg = DataConfig(sets=[ShardSet(str(tmp_path))], augment="none", **{**SMALL, "max_tokens": 400})
    slot, counts = Slot(0, 1, 0), Counter()
    stream = mixture_stream([expand_urls(str(tmp_path))], cfg, slot, start_position(1), counts)
    items = {}
    for _ in range(2):
        _, draw, _, raw = next(stream)
        item = prepare(raw, draw, cfg, VIEWS, tok, counts)
        items[tok.decode([t for t in item.labels if t != -100])] = item
    crop, paged = items["two tiles"], items["three pages"]
    assert crop.grid == (2, 1) and paged.grid is None
    assert "upon the patch reference" in tok.decode(crop.input_ids)
    assert "across multi pages" in tok.decode(paged.input_ids)
    views = torch.stack(load_views(crop, cfg, VIEWS, None, slot))
    expected = torch.stack(tile(torch.from_numpy(np.array(quadrants)).permute(2, 0, 1), (2, 1), 32))
    assert views.shape == (3, 3, 32, 32) and torch.equal(views, expected)
    assert views[0, :, 16, 16].tolist() == [255, 0, 0] and views[1, :, 16, 16].tolist() == [0, 0, 255]
    page_views = torch.stack(load_views(paged, cfg, VIEWS, None, slot))
    assert page_views[:, :, 16, 16].tolist() == [[0, 128, 0], [0, 0, 255], [255, 255, 255]]


def test_prepare_counts_every_reason(tmp_path, tok):
    good, expected = corrupt_set(tmp_path)
    long_text = " ".join(["long"] * 400)
    write_raw(tmp_path / "shard-000003.tar", [{"__key__": "long", "json": meta(long_text), "png": png(page())}])
    cfg = DataConfig(sets=[ShardSet(str(tmp_path))], length_policy="drop", **SMALL)
    urls = expand_urls(str(tmp_path))
    counts, kept = Counter(), []
    for position, raw in set_stream(urls, 0, cfg, Slot(0, 1, 0), start_position(1)["sets"][0], counts):
        if position["epoch"] == 1:
            break
        try:
            kept.append(tok.decode([t for t in prepare(raw, 0, cfg, VIEWS, tok, counts).labels if t != -100]))
        except BadSample as e:
            counts[e.reason] += 1
    # Garbage bytes fail when opened; a truncated PNG only when decoded, which prepare does not do.
    assert counts == expected + Counter(too_long=1) - Counter(bad_image=1)
    assert sorted(kept) == sorted(good + ["text"])  # "text": the truncated PNG's, dropped only at decoding

    truncating = DataConfig(sets=cfg.sets, length_policy="truncate", **SMALL)
    raw = {"__key__": "long", "__url__": "x", "json": meta(long_text), "png": png(page())}
    counts = Counter()
    item = prepare(raw, 0, truncating, VIEWS, tok, counts)
    assert len(item.input_ids) == SMALL["max_tokens"] and item.labels[-1] != tok.eos_id and counts == {"truncated": 1}


def test_loader_skips_bad_samples_and_keeps_going(tmp_path, tok):
    good, expected = corrupt_set(tmp_path)
    cfg = DataConfig(sets=[ShardSet(str(tmp_path))], num_workers=0, **SMALL)
    loader = Loader(cfg, tok, VIEWS)
    seen = [text for batch in take(loader, 12) for text in answers(batch, tok)]
    assert set(seen) == set(good)
    assert set(loader.stats()["skipped"]) == set(expected)


def test_a_set_with_nothing_good_is_an_error(tmp_path, tok):
    write_raw(tmp_path / "bad.tar", [{"__key__": f"k{i}", "json": meta(""), "png": png(page())} for i in range(5)])
    cfg = DataConfig(sets=[ShardSet(str(tmp_path / "bad.tar"))], num_workers=0, max_bad_in_a_row=20, **SMALL)
    with pytest.raises(RuntimeError, match="20 bad samples in a row"):
        take(Loader(cfg, tok, VIEWS), 1)
    (tmp_path / "garbage.tar").write_bytes(b"not a tar file at all" * 100)
    cfg = DataConfig(sets=[ShardSet(str(tmp_path / "garbage.tar"), name="garbage")], num_workers=0, **SMALL)
    with pytest.raises(RuntimeError, match="'garbage' has no readable sample"):
        take(Loader(cfg, tok, VIEWS), 1)


def test_mixture_proportions(sets):
    root, _ = sets
    weights = [5, 3, 2]
    cfg = DataConfig(sets=[ShardSet(str(root / n), w) for n, w in zip("abc", weights)], **SMALL)
    urls = [expand_urls(s.urls) for s in cfg.sets]
    stream = mixture_stream(urls, cfg, Slot(0, 1, 0), start_position(3), Counter())
    n = 3000
    drawn = Counter(j for _, (_, _, j, _) in zip(range(n), stream))
    for j, w in enumerate(weights):
        p = w / sum(weights)
        assert abs(drawn[j] / n - p) < 4 * (p * (1 - p) / n) ** 0.5, (j, drawn)


@pytest.mark.parametrize("shards_per_slot", ["whole shards", "every n-th sample"])
def test_slots_split_an_epoch_without_duplicates(sets, shards_per_slot):
    root, texts = sets
    urls = expand_urls(str(root / "a"))  # 6 shards of 4
    slots = 3 if shards_per_slot == "whole shards" else 8
    cfg = DataConfig(sets=[ShardSet(urls)], **SMALL)
    keys = []
    for index in range(slots):
        for position, raw in set_stream(urls, 0, cfg, Slot(index, slots, 0), start_position(1)["sets"][0], Counter()):
            if position["epoch"] == 1:
                break
            keys.append(raw["__key__"])
    assert len(keys) == len(set(keys)) == len(texts["a"])


def test_ranks_and_workers_get_different_samples(sets, tok):
    root, _ = sets
    cfg = DataConfig(sets=[ShardSet(str(root / "a"))], num_workers=2, **SMALL)
    seen = []
    for rank in range(2):  # 4 slots of 6 samples an epoch; a batch of each worker takes fewer than that
        seen += [text for batch in take(Loader(cfg, tok, VIEWS, rank, 2), 2) for text in answers(batch, tok)]
    assert len(seen) == len(set(seen)) > 6


def test_stream_is_deterministic(sets, tok):
    root, _ = sets
    cfg = DataConfig(sets=[ShardSet(str(root / "a")), ShardSet(str(root / "b"))], num_workers=0, **SMALL)
    first, again = take(Loader(cfg, tok, VIEWS), 4), take(Loader(cfg, tok, VIEWS), 4)
    other = take(Loader(DataConfig(**{**cfg.__dict__, "seed": 1}), tok, VIEWS), 4)
    assert all(torch.equal(x[k], y[k]) for x, y in zip(first, again) for k in x)
    assert [answers(b, tok) for b in first] != [answers(b, tok) for b in other]


@pytest.mark.parametrize("workers", [0, 2])
def test_exact_resume(tmp_path, sets, tok, workers):
    root, _ = sets
    corrupt_set(tmp_path)
    cfg = DataConfig(
        sets=[ShardSet(str(root / "a"), 2), ShardSet(str(root / "b"), 1), ShardSet(str(tmp_path), 1)],
        num_workers=workers,
        augment="light",
        perturb_labels=0.2,
        **SMALL,
    )
    straight = Loader(cfg, tok, VIEWS)
    expected = take(straight, 16)

    interrupted = Loader(cfg, tok, VIEWS)
    take(interrupted, 7)
    state = json.loads(json.dumps(interrupted.state_dict()))  # it survives a JSON round trip
    resumed = Loader(cfg, tok, VIEWS)
    resumed.load_state_dict(state)
    got = take(resumed, 9)
    for want, have in zip(expected[7:], got):
        assert want.keys() == have.keys() and all(torch.equal(want[k], have[k]) for k in want)
    assert resumed.stats() == straight.stats()
    assert resumed.stats()["skipped"]  # the corrupt set's skips were counted, once

    with pytest.raises(ValueError, match="seed"):
        Loader(DataConfig(**{**cfg.__dict__, "seed": 3}), tok, VIEWS).load_state_dict(state)
    with pytest.raises(ValueError, match="world_size"):
        Loader(cfg, tok, VIEWS, 0, 2).load_state_dict(state)


def test_label_perturbation_changes_only_answer_inputs(sets, tok):
    root, _ = sets
    cfg = DataConfig(sets=[ShardSet(str(root / "a"))], num_workers=0, **SMALL)
    clean = take(Loader(cfg, tok, VIEWS), 6)
    assert all(torch.equal(x[k], y[k]) for x, y in zip(clean, take(Loader(cfg, tok, VIEWS), 6)) for k in x)
    noisy = take(Loader(DataConfig(**{**cfg.__dict__, "perturb_labels": 0.3}), tok, VIEWS), 6)
    changed = answer = 0
    for x, y in zip(clean, noisy):
        assert all(torch.equal(x[k], y[k]) for k in ("labels", "position_ids", "images"))  # targets unchanged
        diff = x["input_ids"] != y["input_ids"]
        ordinary = (x["labels"] != -100) & (x["labels"] < tok.num_ranks)  # answer text, not <|im_end|>
        assert not (diff & ~ordinary).any()  # the prompt, images and terminators are never touched
        assert bool((y["input_ids"][diff] < tok.num_ranks).all())  # replaced by ordinary tokens only
        changed, answer = changed + int(diff.sum()), answer + int(ordinary.sum())
    assert 0.2 < changed / answer < 0.4, (changed, answer)


def test_config_errors():
    with pytest.raises(ValueError, match="length_policy"):
        DataConfig(sets=[ShardSet("x")], length_policy="cut")
    with pytest.raises(ValueError, match="augmentation preset"):
        DataConfig(sets=[ShardSet("x")], augment="heavy")
    with pytest.raises(ValueError, match="positive"):
        DataConfig(sets=[ShardSet("x")], max_tokens=0)
    with pytest.raises(ValueError, match="perturb_labels is a probability"):
        DataConfig(sets=[ShardSet("x")], perturb_labels=1.0)
    with pytest.raises(ValueError, match="weight must be positive"):
        DataConfig(sets=[{"urls": ["x"], "weight": 0}])
    with pytest.raises(ValueError, match="data.sets is empty"):
        Loader(DataConfig(), GOTTokenizer.default(), VIEWS)
    with pytest.raises(ValueError, match="positive: max_image_pixels=0"):
        DataConfig(sets=[ShardSet("x")], max_image_pixels=0)


def test_odd_images_train_and_oversized_ones_are_counted(tmp_path, tok):
    """Valid images of every shape and mode go through strong augmentation into views (a 300x1 image once raised
    in ToGray, a 1x5 one in Perspective); those over the config's caps are skipped before decoding."""
    odd = {
        "wide": Image.new("RGB", (300, 1), "black"),
        "tall": Image.new("RGB", (1, 300), "black"),
        "dot": Image.new("RGB", (1, 1), "black"),
        "thin": Image.new("RGB", (5, 1), "black"),
        "grey16": Image.fromarray(np.full((20, 30), 1000, np.uint16)),
        "page": page("a page", (64, 48)),
    }
    records = [{"__key__": k, "json": meta(k), "png": png(image)} for k, image in odd.items()]
    records.append({"__key__": "big", "json": meta("big"), "png": png(page("big", (100, 100)))})  # 10,000 pixels
    records.append({"__key__": "book", "json": meta("book"), **{f"{i}.png": png(page(str(i))) for i in range(4)}})
    write_raw(tmp_path / "shard-000000.tar", records)
    caps = {"max_image_pixels": 9_999, "max_sample_pixels": 4 * 64 * 48 - 1}
    cfg = DataConfig(sets=[ShardSet(str(tmp_path))], num_workers=0, augment="strong", **caps, **SMALL)
    for seed in range(6):  # different augmentations of the same samples
        loader = Loader(dataclasses.replace(cfg, seed=seed), tok, VIEWS)
        seen = {text for batch in take(loader, 6) for text in answers(batch, tok)}
        assert seen == set(odd) and set(loader.stats()["skipped"]) == {"image_too_large", "sample_too_large"}
