"""Weight interop: official (ucaslcl/GOT-OCR2_0), hf (transformers GotOcr2) and got layouts.

transformers' GotOcr2ForConditionalGeneration is the referee: built from the same weights, its logits must
equal ours. The official layout is written here by hand from the key table in DESIGN §2, not by our converter.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoProcessor, GotOcr2ForConditionalGeneration

from got.config import load_model_config
from got.model.checkpoint import (
    CheckpointError,
    checkpoint_from_model,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from got.model.got import GOTModel
from got.model.views import CLIP_MEAN, CLIP_STD
from got.tokenizer import GOTTokenizer

from datagen import referee_vision, tiny_referee, write_official

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizer():
    return GOTTokenizer.default()


@pytest.fixture(scope="module")
def referee():
    return tiny_referee()


def inputs(cfg, views: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = (
        [5, 17]
        + [cfg.image_token_id] * (cfg.vision.tokens_per_view * views)
        + torch.randint(10, 7000, (9,), generator=g).tolist()
    )
    images = torch.randint(
        0, 256, (views, 3, cfg.vision.image_size, cfg.vision.image_size), dtype=torch.uint8, generator=g
    )
    pixels = (images.float() / 255 - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return torch.tensor([ids]), images, pixels


def assert_same_logits(ours: torch.Tensor, ref: torch.Tensor) -> None:
    rel = ((ours - ref).abs().max() / ref.abs().max()).item()
    assert rel <= 1e-4, rel


def run_convert(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train/convert.py"), *map(str, args)], capture_output=True, text=True
    )


def test_hf_export_loads_in_transformers_with_equal_logits(tmp_path, tokenizer):
    torch.manual_seed(1)
    model = GOTModel(load_model_config("tiny_qwen")).eval()
    with torch.no_grad():
        for block in model.vision.blocks:
            block.attn.rel_pos_h.normal_(std=0.05)
            block.attn.rel_pos_w.normal_(std=0.05)
    save_checkpoint(checkpoint_from_model(model, tokenizer), tmp_path / "hf", "hf")
    hf, info = GotOcr2ForConditionalGeneration.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids, images, pixels = inputs(model.cfg, views=2)
    with torch.no_grad():
        assert_same_logits(model(ids, images), hf.eval()(input_ids=ids, pixel_values=pixels).logits)
    processor = AutoProcessor.from_pretrained(tmp_path / "hf")
    assert processor.tokenizer.convert_tokens_to_ids("<imgpad>") == tokenizer.imgpad_id
    assert processor.tokenizer("OCR: ")["input_ids"] == tokenizer.encode("OCR: ")


def test_hf_export_refuses_projector_wider_than_decoder(tmp_path, tokenizer):
    cfg = load_model_config("tiny_qwen")
    cfg.projector_channels = 2 * cfg.decoder["hidden_size"]
    with pytest.raises(CheckpointError, match="P=256 != decoder width 128"):
        save_checkpoint(checkpoint_from_model(GOTModel(cfg), tokenizer), tmp_path, "hf")


def test_official_checkpoint_imports_with_identical_logits(tmp_path, referee, tokenizer):
    write_official(referee, tokenizer, tmp_path / "official")
    result = run_convert("--from", "official", "--to", "got", tmp_path / "official", tmp_path / "got")
    assert result.returncode == 0, result.stderr
    ckpt = load_checkpoint(tmp_path / "got", "got")
    assert ckpt.tokenizer is not None and ckpt.cfg.image_token_id == tokenizer.imgpad_id
    assert ckpt.cfg.vision == referee_vision()  # read back from the weight shapes
    ours = model_from_checkpoint(ckpt).eval()
    ids, images, pixels = inputs(ckpt.cfg, views=3, seed=1)
    with torch.no_grad():
        assert_same_logits(ours(ids, images), referee(input_ids=ids, pixel_values=pixels).logits)


def test_official_to_hf_loads_in_transformers_with_rope_theta_and_logits(tmp_path, referee, tokenizer):
    """P == d_model here, so the hf layout can hold it: transformers' own model, loaded from our export, gives the
    logits of the model the official-layout weights came from, with the release's RoPE θ 1e6."""
    write_official(referee, tokenizer, tmp_path / "official")
    result = run_convert("--from", "official", "--to", "hf", tmp_path / "official", tmp_path / "hf")
    assert result.returncode == 0, result.stderr
    hf, info = GotOcr2ForConditionalGeneration.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert hf.config.text_config.rope_parameters["rope_theta"] == 1e6
    ids, _, pixels = inputs(load_checkpoint(tmp_path / "hf").cfg, views=2, seed=3)
    with torch.no_grad():
        assert_same_logits(
            hf.eval()(input_ids=ids, pixel_values=pixels).logits, referee(input_ids=ids, pixel_values=pixels).logits
        )


def release_config(referee) -> dict:
    """config.json as the HF-native release (stepfun-ai/GOT-OCR-2.0-hf, transformers 4.49) writes it: a sparse
    text_config with rope_theta at its top level, `torch_dtype`, the tie flag left to GotOcr2's default."""
    text, v = referee.config.text_config, referee.config.vision_config
    return {
        "architectures": ["GotOcr2ForConditionalGeneration"],
        "image_seq_length": referee.config.image_seq_length,
        "image_token_index": referee.config.image_token_index,
        "model_type": "got_ocr2",
        "pad_token_id": -1,
        "text_config": {
            "hidden_size": text.hidden_size,
            "intermediate_size": text.intermediate_size,
            "max_position_embeddings": text.max_position_embeddings,
            "max_window_layers": 21,
            "model_type": "qwen2",
            "num_attention_heads": text.num_attention_heads,
            "num_hidden_layers": text.num_hidden_layers,
            "num_key_value_heads": text.num_key_value_heads,
            "rope_theta": 1000000.0,
            "torch_dtype": "float32",
            "use_sliding_window": False,
            "vocab_size": text.vocab_size,
        },
        "torch_dtype": "float32",
        "transformers_version": "4.49.0.dev0",
        "vision_config": {
            "global_attn_indexes": list(v.global_attn_indexes),
            "hidden_size": v.hidden_size,
            "image_size": v.image_size,
            "mlp_dim": v.mlp_dim,
            "num_attention_heads": v.num_attention_heads,
            "num_hidden_layers": v.num_hidden_layers,
            "output_channels": v.output_channels,
            "patch_size": v.patch_size,
            "window_size": v.window_size,
            "model_type": "",
        },
    }


@pytest.mark.parametrize("layout", ["release", "in_memory_names"])
def test_hf_native_layouts_read_with_the_referees_logits(tmp_path, referee, tokenizer, layout):
    """The HF-native release's on-disk layout (4.49 config, rope_theta in text_config), and weights saved under
    transformers 5's in-memory names (model.language_model.*, lm_head.*) with rope_parameters."""
    referee.save_pretrained(tmp_path)
    tokenizer.export_hf(tmp_path)
    if layout == "release":
        (tmp_path / "config.json").write_text(json.dumps(release_config(referee)))
    else:
        state = {k: v.contiguous().clone() for k, v in referee.state_dict().items() if k != "lm_head.weight"}
        save_file(state, str(tmp_path / "model.safetensors"))
    ckpt = load_checkpoint(tmp_path)
    assert (
        ckpt.cfg.decoder_config().rope_parameters["rope_theta"] == 1e6 and ckpt.cfg.decoder_config().tie_word_embeddings
    )
    ids, images, pixels = inputs(ckpt.cfg, views=2, seed=2)
    with torch.no_grad():
        assert_same_logits(
            model_from_checkpoint(ckpt).eval()(ids, images), referee(input_ids=ids, pixel_values=pixels).logits
        )


@pytest.mark.parametrize("layout", ["official", "hf"])
def test_round_trip_through_got_is_lossless(tmp_path, referee, tokenizer, layout):
    if layout == "official":
        write_official(referee, tokenizer, tmp_path / "a")
    else:
        referee.save_pretrained(tmp_path / "a")
        tokenizer.export_hf(tmp_path / "a")
    for src, dst, a, b in (("a", "got", layout, "got"), ("got", "b", "got", layout)):
        result = run_convert("--from", a, "--to", b, tmp_path / src, tmp_path / dst)
        assert result.returncode == 0, result.stderr
    first, second = load_file(tmp_path / "a/model.safetensors"), load_file(tmp_path / "b/model.safetensors")
    assert set(first) == set(second)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert load_checkpoint(tmp_path / "a", layout).cfg == load_checkpoint(tmp_path / "b", layout).cfg
    if layout == "hf":
        assert (
            json.loads((tmp_path / "b/tokenizer.json").read_text())["model"]["vocab"]
            == json.loads((tmp_path / "a/tokenizer.json").read_text())["model"]["vocab"]
        )


def test_malformed_sources_name_the_offending_keys(tmp_path, referee, tokenizer):
    src = tmp_path / "official"
    write_official(referee, tokenizer, src)
    state = load_file(src / "model.safetensors")
    broken = dict(state)
    del broken["model.layers.1.mlp.up_proj.weight"]
    broken["model.vision_tower_high.blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)
    broken["model.extra_head.weight"] = torch.zeros(2)
    save_file(broken, str(src / "model.safetensors"))
    result = run_convert("--from", "official", "--to", "got", src, tmp_path / "out")
    assert result.returncode != 0
    for key in (
        "model.layers.1.mlp.up_proj.weight",
        "model.vision_tower_high.blocks.0.attn.qkv.weight",
        "model.extra_head.weight",
    ):
        assert key in result.stderr
    assert "Traceback" not in result.stderr

    (src / "model.safetensors").unlink()
    torch.save(state, src / "pytorch_model.bin")
    result = run_convert("--from", "official", "--to", "got", src, tmp_path / "out")
    assert result.returncode != 0 and "pickle" in result.stderr and "Traceback" not in result.stderr

    (src / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(src, "official")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere", "got")
    with pytest.raises(CheckpointError, match="not a got-layout config"):
        load_checkpoint(src, "got")
