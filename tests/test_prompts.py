import numpy as np
import pytest

from got.prompts import IGNORE_INDEX, build_query, encode_prompt, encode_sample, normalize_box, prompt_text


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, "OCR: "),
        ({"task": "format"}, "OCR with format: "),
        ({"color": "red"}, "[red] OCR: "),
        ({"color": "blue", "task": "format"}, "[blue] OCR with format: "),
        ({"box": [0, 0, 100, 100], "image_size": (1024, 1024)}, "[0, 0, 97, 97] OCR: "),
        (
            {"box": (10, 20, 110, 220), "image_size": (200, 400), "task": "format"},
            "[50, 50, 550, 550] OCR with format: ",
        ),
        ({"multi_crop": True, "task": "format"}, "OCR with format upon the patch reference: "),
        ({"multi_crop": True}, "OCR upon the patch reference: "),  # the official chat_crop, ocr_type="ocr"
        ({"box": [100, 200], "image_size": (1000, 500)}, "[100, 400] OCR: "),  # a point, as the official demo
        ({"multi_page": True}, "OCR with format across multi pages: "),  # the only multi-page query
        ({"multi_page": True, "task": "format"}, "OCR with format across multi pages: "),
        ({"style": "hf"}, " OCR: "),
        ({"style": "hf", "color": "green"}, "[green]  OCR: "),
        ({"style": "hf", "box": [0, 0, 100, 100], "image_size": (400, 30)}, "[0, 0, 250, 3333] OCR: "),
        ({"style": "hf", "multi_crop": True}, " OCR upon the patch reference: "),
        ({"style": "hf", "multi_page": True, "task": "format"}, " OCR with format across multi pages: "),
    ],
)
def test_query_strings(kwargs, expected):
    assert build_query(**kwargs) == expected


def test_box_normalisation_and_clipping():
    assert normalize_box([1, 1, 2, 2], (3, 3)) == [333, 333, 666, 666]  # int() truncates
    assert normalize_box([0.5, 0, 99.9, 50], (100, 50)) == [5, 0, 999, 1000]
    assert normalize_box([-20, -5, 300, 120], (200, 100)) == [0, 0, 1000, 1000]
    assert normalize_box([-20, -5, 300, 120], (200, 100), clip=False) == [-100, -50, 1500, 1200]
    assert normalize_box(np.array([10, 20, 30, 40]), (np.int64(100), 100)) == [100, 200, 300, 400]


def test_prompt_text_bytes():
    expected = (
        "<|im_start|>system\nYou should follow the instructions carefully and explain your answers in detail."
        "<|im_end|><|im_start|>user\n<img><imgpad><imgpad><imgpad><imgpad><imgpad><imgpad></img>\nOCR: "
        "<|im_end|><|im_start|>assistant\n"
    )
    assert prompt_text("OCR: ", num_views=3, image_tokens=2) == expected
    assert prompt_text("OCR: ", num_views=2).count("<imgpad>") == 512
    assert prompt_text("OCR: ", num_views=np.int64(2)) == prompt_text("OCR: ", num_views=2)


@pytest.mark.parametrize("vocab", ["qwen", "tiny"])
def test_encode_prompt_matches_full_string(request, vocab):
    tok = request.getfixturevalue(vocab)
    queries = [("OCR: ", 1), ("[12, 34, 560, 780] OCR: ", 1), ("OCR with format upon the patch reference: ", 3)]
    for query, views in queries:
        full = tok.encoding.encode(prompt_text(query, views, image_tokens=4), allowed_special="all")
        assert encode_prompt(tok, query, views, image_tokens=4) == full
    answer = "Title\n\n\\frac{1}{2} 你好，世界。"
    ids, _ = encode_sample(tok, "OCR: ", answer, 2, image_tokens=4)
    assert ids == tok.encoding.encode(prompt_text("OCR: ", 2, 4) + answer + "<|im_end|>", allowed_special="all")


def test_label_masking(tiny):
    answer = "Hello 世界"
    ids, labels = encode_sample(tiny, "OCR: ", answer, num_views=1, image_tokens=8)
    target = [*tiny.encode(answer), tiny.eos_id]
    prompt_len = len(ids) - len(target)
    assert len(ids) == len(labels) and prompt_len == len(encode_prompt(tiny, "OCR: ", 1, 8))
    assert labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
    assert labels[prompt_len:] == ids[prompt_len:] == target


def test_max_tokens(tiny):
    ids, _ = encode_sample(tiny, "OCR: ", "one two three", 1, image_tokens=8)
    assert encode_sample(tiny, "OCR: ", "one two three", 1, image_tokens=8, max_tokens=len(ids))[0] == ids
    with pytest.raises(ValueError, match=rf"sample has {len(ids)} tokens .* max_tokens={len(ids) - 2}"):
        encode_sample(tiny, "OCR: ", "one two three", 1, image_tokens=8, max_tokens=len(ids) - 2)
    cut, labels = encode_sample(tiny, "OCR: ", "one two three", 1, 8, max_tokens=len(ids) - 2, truncate=True)
    assert cut == ids[:-2] and tiny.eos_id not in labels
    with pytest.raises(ValueError, match="prompt"):
        encode_sample(tiny, "OCR: ", "one", 1, image_tokens=8, max_tokens=10, truncate=True)


def test_protocol_duck_typing():
    class CharTokenizer:  # stands in for an adapter around another decoder's tokenizer
        def encode(self, text):
            return [ord(c) for c in text]

        def token_id(self, name):
            return {"<|im_start|>": -1, "<|im_end|>": -2, "<img>": -3, "</img>": -4, "<imgpad>": -5}[name]

    ids, labels = encode_sample(CharTokenizer(), "OCR: ", "ab", 1, image_tokens=1)
    assert ids[-3:] == [ord("a"), ord("b"), -2] and labels[-4:] == [IGNORE_INDEX, ord("a"), ord("b"), -2]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "latex"}, "unknown task"),
        ({"color": "purple"}, "unknown colour"),
        ({"style": "qwen"}, "unknown prompt style"),
        ({"box": [1, 2, 3], "image_size": (10, 10)}, "4 numbers"),
        ({"box": [1], "image_size": (10, 10)}, "4 numbers"),
        ({"box": ["1", 2, 3, 4], "image_size": (10, 10)}, "4 numbers"),
        ({"box": [5, 0, 4, 10], "image_size": (10, 10)}, "x1 <= x2"),
        ({"box": [0, 5, 4, 1], "image_size": (10, 10)}, "y1 <= y2"),
        ({"box": [0, 0, 4, 4]}, "image_size"),
        ({"box": [0, 0, 4, 4], "image_size": (0, 10)}, "image_size"),
        ({"box": [0, 0, 4, 4], "image_size": 10}, "image_size"),
        ({"box": 7, "image_size": (10, 10)}, "4 numbers"),
        ({"box": [0, 0, 4, 4], "image_size": (10, 10), "color": "red"}, "exclusive"),
        ({"multi_crop": True, "multi_page": True}, "exclusive"),
        ({"multi_page": True, "color": "red"}, "single view"),
    ],
)
def test_query_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_query(**kwargs)


@pytest.mark.parametrize("views", [0, -1, 1.5])
def test_bad_num_views(tiny, views):
    with pytest.raises(ValueError, match="num_views"):
        prompt_text("OCR: ", views)
    with pytest.raises(ValueError, match="num_views"):
        encode_prompt(tiny, "OCR: ", views)


def test_hf_processor_peer_check(qwen, tmp_path):
    """transformers' own GotOcr2Processor, fed our exported tokenizer, gives the same ids as our "hf" style and
    the lengths of its tests (a 400x30 image, as in HF's test fixtures; it does not clip the box)."""
    from PIL import Image
    from transformers import AutoTokenizer, GotOcr2ImageProcessorPil, GotOcr2Processor

    hf_tok = AutoTokenizer.from_pretrained(qwen.export_hf(tmp_path), local_files_only=True)
    processor = GotOcr2Processor(image_processor=GotOcr2ImageProcessorPil(), tokenizer=hf_tok)
    image = Image.new("RGB", (400, 30), "white")
    cases = [  # (processor kwargs, build_query kwargs, views, expected length)
        ({}, {}, 1, 286),
        ({"format": True}, {"task": "format"}, 1, 288),
        ({"color": "red"}, {"color": "red"}, 1, 290),
        ({"box": [0, 0, 100, 100]}, {"box": [0, 0, 100, 100], "image_size": (400, 30)}, 1, 303),
        ({"multi_page": True, "format": True}, {"multi_page": True, "task": "format"}, 2, 547),
        ({"crop_to_patches": True, "max_patches": 6}, {"multi_crop": True}, 7, 1826),
    ]
    for hf_kwargs, query_kwargs, views, length in cases:
        images = [image] * views if hf_kwargs.get("multi_page") else image
        theirs = processor(images, **hf_kwargs)["input_ids"][0]
        ours = encode_prompt(qwen, build_query(**query_kwargs, style="hf"), views)
        assert (len(theirs), theirs) == (length, ours), hf_kwargs
