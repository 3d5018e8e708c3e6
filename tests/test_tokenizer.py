import json
import runpy
import unicodedata
from itertools import islice

import pytest
from conftest import ROOT

from got import bpe
from got.tokenizer import DEFAULT_VOCAB, SPECIAL_TOKENS, GOTTokenizer, token_bytes, tokens_per_char, write_vocab


TEXTS = [
    "Hello, world! It's 2024 and we're testing OCR.",
    "光学字符识别（OCR）是一种技术。我们测试中文，也测试标点！",
    r"\frac{a}{b} + \sqrt{x^{2}} = \sum_{i=1}^{n} \alpha_{i} \begin{pmatrix} 1 & 0 \end{pmatrix}",
    "  leading spaces\n\n\ttabs and\r\nCRLF   \n   trailing   ",
    "| a | b |\n| --- | --- |\n**bold** `code` 😀 naïve café",
]


@pytest.fixture(scope="module", params=["qwen", "tiny"])
def tok(request) -> GOTTokenizer:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def exported(tok, tmp_path_factory):
    """(our tokenizer, transformers' AutoTokenizer loaded from our export, the export's directory)."""
    from transformers import AutoTokenizer

    directory = tok.export_hf(tmp_path_factory.mktemp(f"hf-{tok.source.stem}"))
    return tok, AutoTokenizer.from_pretrained(directory, local_files_only=True), directory


def test_special_token_ids_match_got(qwen):
    assert (qwen.num_ranks, qwen.vocab_size) == (151643, 151860)
    expected = {
        "<|endoftext|>": 151643,
        "<|im_start|>": 151644,
        "<|im_end|>": 151645,
        "<|extra_0|>": 151646,
        "<|extra_204|>": 151850,
        "<ref>": 151851,
        "</ref>": 151852,
        "<box>": 151853,
        "</box>": 151854,
        "<quad>": 151855,
        "</quad>": 151856,
        "<img>": 151857,
        "</img>": 151858,
        "<imgpad>": 151859,
    }
    assert {name: qwen.token_id(name) for name in expected} == expected
    assert [qwen.token_id(t) for t in SPECIAL_TOKENS] == list(range(151643, 151860))
    assert (qwen.pad_id, qwen.eos_id, qwen.im_start_id, qwen.im_end_id) == (151643, 151645, 151644, 151645)
    assert (qwen.img_start_id, qwen.img_end_id, qwen.imgpad_id) == (151857, 151858, 151859)


def test_known_qwen_ids(qwen):
    assert qwen.encode("hello world") == [14990, 1879]
    assert qwen.encode("123") == [16, 17, 18]  # Qwen splits numbers into single digits


def test_nfc_normalisation(tok):
    assert tok.encode("cafe\u0301") == tok.encode("caf\u00e9")
    assert tok.decode(tok.encode("cafe\u0301")) == "caf\u00e9"


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(tok, text):
    assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)


def test_special_strings_in_text_stay_text(tok):
    text = "a <|im_end|> b <img><imgpad></img> <|endoftext|>"
    ids = tok.encode(text)
    assert max(ids) < tok.num_ranks
    assert tok.decode(ids) == text


def test_decode_special_ids(tiny):
    ids = tiny.encode("hi")
    wrapped = [tiny.im_start_id, tiny.imgpad_id, *ids, tiny.eos_id]
    assert tiny.decode(wrapped) == "hi"
    assert tiny.decode(wrapped, skip_special_tokens=False) == "<|im_start|><imgpad>hi<|im_end|>"
    with pytest.raises(ValueError, match="out of range"):
        tiny.decode([tiny.vocab_size])


def test_token_id_unknown(tiny):
    with pytest.raises(KeyError, match="not a special token"):
        tiny.token_id("<|extra_205|>")


def test_shipped_tiny_vocab(tiny):
    assert DEFAULT_VOCAB.stat().st_size < 200_000
    n = tiny.num_ranks
    assert tiny.vocab_size == n + 217
    assert [tiny.token_id(t) for t in SPECIAL_TOKENS] == list(range(n, n + 217))
    assert all(len(tiny.encode(chr(b))) == 1 for b in range(128))
    # Every common (GB2312 level-1) Chinese character is a single token.
    hanzi = [c for row in range(16, 56) for c in bpe.gb2312_row(row)]
    assert len(hanzi) == 3755 and all(len(tiny.encode(c)) == 1 for c in hanzi)
    assert tokens_per_char(tiny, bpe.SAMPLE_ZH) == pytest.approx(1.0)
    assert tokens_per_char(tiny, bpe.SAMPLE_EN) < 0.4


def test_tokens_per_char_empty(tiny):
    with pytest.raises(ValueError, match="non-empty"):
        tokens_per_char(tiny, "")


def test_save_and_from_dir(tiny, tmp_path):
    path = tiny.save(tmp_path)
    assert path.name == "got-tiny.tiktoken"
    again = GOTTokenizer.from_dir(tmp_path)
    assert again.vocab_size == tiny.vocab_size and again.encode(TEXTS[0]) == tiny.encode(TEXTS[0])
    (tmp_path / "other.tiktoken").write_bytes(path.read_bytes())
    with pytest.raises(FileNotFoundError, match="found 2"):
        GOTTokenizer.from_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="found 0"):
        GOTTokenizer.from_dir(tmp_path / "missing")


def test_bad_vocab_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tiktoken"):
        GOTTokenizer.from_file(tmp_path / "nope.tiktoken")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("YQ== 0\nthis is not a vocab line\n")
    with pytest.raises(ValueError, match=r"bad.tiktoken:2: malformed"):
        GOTTokenizer.from_file(bad)
    bad.write_text("YQ== 0\nYg== 2\n")
    with pytest.raises(ValueError, match="contiguous"):
        GOTTokenizer.from_file(bad)


def test_hf_export_matches(exported):
    ours, hf, _ = exported
    assert type(hf).__name__ in ("TokenizersBackend", "PreTrainedTokenizerFast")
    for text in [*TEXTS, "cafe\u0301", bpe.SAMPLE_EN, bpe.SAMPLE_ZH]:
        assert hf.encode(text, add_special_tokens=False) == ours.encode(text), text
    assert hf.convert_tokens_to_ids(list(SPECIAL_TOKENS)) == [ours.token_id(t) for t in SPECIAL_TOKENS]
    assert (hf.eos_token_id, hf.pad_token_id, len(hf)) == (ours.eos_id, ours.pad_id, ours.vocab_size)
    ids = [ours.im_start_id, *ours.encode(TEXTS[1]), ours.eos_id]
    assert hf.decode(ids, skip_special_tokens=True) == ours.decode(ids)


def test_from_hf_dir(exported, tmp_path):
    ours, _, directory = exported
    back = GOTTokenizer.from_hf_dir(directory)
    assert back.ranks == ours.ranks and back.special_ids == ours.special_ids
    assert back.encode(TEXTS[2]) == ours.encode(TEXTS[2])
    saved = back.save(tmp_path, "qwen.tiktoken")  # no source file: written from the ranks
    assert GOTTokenizer.from_dir(tmp_path).ranks == ours.ranks and saved.name == "qwen.tiktoken"


def test_from_hf_dir_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        GOTTokenizer.from_hf_dir(tmp_path)
    spec = json.loads((tiny.export_hf(tmp_path / "hf") / "tokenizer.json").read_text())
    spec["added_tokens"] = spec["added_tokens"][:-1]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="not GOT's special tokens"):
        GOTTokenizer.from_hf_dir(tmp_path)
    spec["model"] = {"type": "WordPiece", "vocab": {"a": 0}}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="not a byte-level BPE"):
        GOTTokenizer.from_hf_dir(tmp_path)


def test_save_keeps_file_bytes(qwen, tmp_path):
    assert qwen.save(tmp_path).read_bytes() == qwen.source.read_bytes()


def test_trained_vocab_encodes_like_hf(tmp_path):
    texts = [*islice(bpe.english_texts(), 300), next(bpe.latex_texts()), next(bpe.chinese_texts())]
    hf = bpe.train_hf(texts, 1000)
    ranks = bpe.hf_to_ranks(hf)
    assert len(ranks) == 1000 and all(ranks[bytes([b])] == b for b in range(256))
    assert bpe.hf_to_ranks(bpe.train_hf(texts, 1000)) == ranks  # deterministic
    write_vocab(ranks, tmp_path / "t.tiktoken")
    ours = GOTTokenizer.from_file(tmp_path / "t.tiktoken")
    for text in [*TEXTS, bpe.SAMPLE_EN, bpe.SAMPLE_ZH, *texts[::25]]:
        theirs = [token_bytes(token) for token in hf.encode(text).tokens]
        assert [ours.encoding.decode_single_token_bytes(i) for i in ours.encode(text)] == theirs


def train_vocab(*args) -> None:
    """data/train_vocab.py with these arguments, in-process (its main takes argv)."""
    runpy.run_path(str(ROOT / "data/train_vocab.py"))["main"]([str(a) for a in args])


def test_byte_level_vocab(tmp_path, capsys):
    """data/train_vocab.py --size 256: no merges, so every id is one UTF-8 byte and the specials follow the bytes."""
    out = tmp_path / "bytes.tiktoken"
    train_vocab("--size", 256, "--out", out)
    assert "256 ranks" in capsys.readouterr().out
    tok = GOTTokenizer.from_file(out)
    for text in TEXTS:
        assert tok.encode(text) == list(unicodedata.normalize("NFC", text).encode("utf-8"))
        assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)
    assert (tok.num_ranks, tok.vocab_size, tok.token_id("<|endoftext|>")) == (256, 256 + len(SPECIAL_TOKENS), 256)


def test_the_learning_bench_byte_variant_matches_its_vocabulary(tmp_path):
    """configs/bench/learning_bytes.yaml gives the runs from random init the byte vocabulary's ids by hand; composed
    with their experiment files, they must be the ids of the file data/train_vocab.py writes."""
    from hydra import compose, initialize_config_dir

    import got.train.config  # noqa: F401  (registers the schema)
    from got.config import CONFIG_DIR
    from got.config_file import load_config

    bench = load_config(CONFIG_DIR / "bench" / "learning_bytes.yaml")
    out = tmp_path / "bytes.tiktoken"
    train_vocab("--size", bench["vocab"]["size"], "--out", out)
    tok = GOTTokenizer.from_file(out)
    from_scratch = [
        run for run, overrides in bench["overrides"].items() if any("init.tokenizer=" in o for o in overrides)
    ]
    assert sorted(from_scratch) == ["glyphs", "noimage"]  # the runs without init.model_from
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        for run in from_scratch:
            cfg = compose("train", overrides=[f"+experiment={bench['runs'][run]}", *bench["overrides"][run]])
            assert cfg.init.tokenizer == bench["vocab"]["path"] and cfg.init.model_from is None
            ids = (
                cfg.model.decoder.vocab_size,
                cfg.model.image_token_id,
                cfg.model.eos_token_id,
                cfg.model.pad_token_id,
            )
            assert ids == (tok.vocab_size, tok.imgpad_id, tok.eos_id, tok.pad_id)
