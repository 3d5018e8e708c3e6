"""Test inputs and helpers: small shard sets (tiny images, a unique text per sample, hand-made raw samples), PDFs
with a text layer, a tiny GOT checkpoint in the official layout written without our converter, and what the
training tests need to launch runs and read them."""

import io
import json
import socket
import tarfile
from collections import Counter
from pathlib import Path
from typing import Sequence

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
    write_raw(
        tmp_path / "shard-000000.tar",
        [
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
        ],
    )
    data = write_raw(
        tmp_path / "shard-000001.tar",
        [
            {"__key__": "good2", "json": meta("good2"), "png": good},
            {"__key__": "good3", "json": meta("good3"), "png": good},
            {"__key__": "lost", "json": meta("lost"), "png": png(page("x", (400, 400)))},
        ],
    )
    with tarfile.open(tmp_path / "shard-000001.tar") as tar:
        last = tar.getmembers()[-1]
    (tmp_path / "shard-000001.tar").write_bytes(data[: last.offset_data + last.size // 2])  # cut inside it
    write_raw(tmp_path / "shard-000002.tar", [{"__key__": "good4", "json": meta("good4"), "png": good}])
    expected = Counter(
        bad_json=1,
        bad_image=2,
        missing_image=2,
        empty_text=1,
        non_utf8=2,
        extra_key=2,
        bad_box=2,
        missing_key=2,
        bad_value=1,
        tar_error=1,
    )
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


FIRST = (
    "First paragraph: long enough to wrap onto a second line on an A4 page in twelve-point Helvetica, "
    "which takes about ninety characters."
)
SECOND = "Second paragraph."


def write_pdf(
    path: Path,
    paragraphs: Sequence[str] = (FIRST, SECOND),
    page_two: str = "Page two",
    *,
    encrypt: bool = False,
    text: bool = True,
) -> Path:
    """A two-page PDF (fpdf2): the paragraphs on page one, `page_two` on page two; or, with text=False, a page
    holding only an image (a scan without a text layer)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    if text:
        for n, paragraph in enumerate(paragraphs):
            if n:
                pdf.ln(10)
            pdf.multi_cell(0, 6, paragraph)
        pdf.add_page()
        pdf.cell(0, 10, page_two)
    else:
        pdf.image(page("scanned", (200, 100)), x=10, y=10, w=100)
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.output(str(path))
    return path


# DESIGN §2: transformers' in-memory GotOcr2 prefixes -> the official GOT ones. In the release, net_2 and net_3 are
# members of the vision tower. tests/test_official_conformance.py checks the result against the names the official
# code itself has (../shared/official_tiny).
OFFICIAL_PREFIXES = [
    ("model.vision_tower.", "model.vision_tower_high."),
    ("model.multi_modal_projector.conv_upsampler1.", "model.vision_tower_high.net_2."),
    ("model.multi_modal_projector.conv_upsampler2.", "model.vision_tower_high.net_3."),
    ("model.multi_modal_projector.multimodal_projector.", "model.mm_projector_vary."),
    ("model.language_model.", "model."),
]
OFFICIAL_VISION_PARTS = [
    ("patch_embed.projection.", "patch_embed.proj."),
    ("neck.conv1.", "neck.0."),
    ("neck.layer_norm1.", "neck.1."),
    ("neck.conv2.", "neck.2."),
    ("neck.layer_norm2.", "neck.3."),
    (".layers.", ".blocks."),
    (".layer_norm1.", ".norm1."),
    (".layer_norm2.", ".norm2."),
]
# The Qwen2Config fields of the official config.json (transformers 4.37, as in ../shared/official_tiny/config.json).
OFFICIAL_QWEN2_FIELDS = (
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
    "hidden_act",
    "hidden_size",
    "initializer_range",
    "intermediate_size",
    "max_position_embeddings",
    "max_window_layers",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "rms_norm_eps",
    "sliding_window",
    "tie_word_embeddings",
    "use_cache",
    "use_sliding_window",
    "vocab_size",
)


def official_name(hf_key: str) -> str:
    """HF in-memory key -> official GOT key, straight from the DESIGN §2 table."""
    for hf, official in OFFICIAL_PREFIXES:
        if hf_key.startswith(hf):
            hf_key = official + hf_key[len(hf) :]
            break
    if hf_key.startswith("model.vision_tower_high."):
        for hf, official in OFFICIAL_VISION_PARTS:
            hf_key = hf_key.replace(hf, official)
    return hf_key


def official_config(text_config, tokenizer, image_token_len: int) -> dict:
    """An official config.json (transformers-4.37 Qwen2 fields plus GOT's) for a transformers Qwen2 text config."""
    config = {k: getattr(text_config, k) for k in OFFICIAL_QWEN2_FIELDS if getattr(text_config, k) is not None}
    # transformers 5 drops sliding_window when sliding is off; Qwen1.5's configs hold max_position_embeddings there.
    config.setdefault("sliding_window", text_config.max_position_embeddings)
    config.update(
        rope_theta=text_config.rope_parameters["rope_theta"],
        architectures=["GOTQwenForCausalLM"],
        model_type="GOT",
        im_patch_token=tokenizer.imgpad_id,
        im_start_token=tokenizer.img_start_id,
        im_end_token=tokenizer.img_end_id,
        image_token_len=image_token_len,
        use_im_start_end=True,
        vision_select_layer=-1,
        freeze_vision_tower=False,
        torch_dtype="float32",
        transformers_version="4.37.2",
    )
    return config


def referee_vision():
    """tiny_qwen's encoder with its first block windowed: an import must then read the window size back too."""
    from dataclasses import replace

    from got.config import load_model_config

    return replace(load_model_config("tiny_qwen").vision, global_layers=(1,))


def tiny_referee():
    """A random transformers GotOcr2ForConditionalGeneration at the tiny_qwen shape (encoder: referee_vision()),
    every weight non-trivial, RoPE θ 1e6 as in the release (a reader that drops θ gets other logits)."""
    import torch
    from transformers import GotOcr2Config, GotOcr2ForConditionalGeneration

    from got.config import load_model_config

    cfg = load_model_config("tiny_qwen")
    v = referee_vision()
    hf_cfg = GotOcr2Config(
        vision_config=dict(
            hidden_size=v.width,
            output_channels=v.out_channels,
            num_hidden_layers=v.depth,
            num_attention_heads=v.heads,
            image_size=v.image_size,
            patch_size=v.patch_size,
            window_size=v.window_size,
            global_attn_indexes=list(v.global_layers),
            mlp_dim=v.mlp_dim,
        ),
        text_config=dict(cfg.decoder, rope_theta=1e6),
        image_token_index=cfg.image_token_id,
        image_seq_length=v.tokens_per_view,
    )
    torch.manual_seed(0)
    model = GotOcr2ForConditionalGeneration(hf_cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:  # GotOcr2 initialises the encoder at std 1e-10: make it matter
                p.normal_(std=0.05)
    return model


def write_official(referee, tokenizer, path: Path) -> None:
    """`referee`'s weights as ucaslcl/GOT-OCR2_0 lays them out (keys renamed by the DESIGN table, not by our
    converter), with its config.json and the tokenizer's vocabulary as qwen.tiktoken."""
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    state = {official_name(k): v.contiguous().clone() for k, v in referee.state_dict().items()}
    state["lm_head.weight"] = state["model.embed_tokens.weight"].clone()  # the release stores the copy
    save_file(state, str(path / "model.safetensors"))
    config = official_config(referee.config.text_config, tokenizer, referee.config.image_seq_length)
    (path / "config.json").write_text(json.dumps(config))
    (path / "qwen.tiktoken").write_bytes(tokenizer.source.read_bytes())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def losses(out: Path) -> dict[int, float]:
    """{step: loss} from a run's metrics.jsonl."""
    records = map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
    return {r["step"]: r["loss"] for r in records if "loss" in r}
