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
from transformers import AutoProcessor, GotOcr2Config, GotOcr2ForConditionalGeneration

from got.config import load_model_config
from got.model.convert import (
    CheckpointError,
    checkpoint_from_model,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from got.model.got import CLIP_MEAN, CLIP_STD, GOTModel
from got.tokenizer import GOTTokenizer

ROOT = Path(__file__).resolve().parents[1]


def official_name(hf_key: str) -> str:
    """HF in-memory key -> official GOT key, straight from the DESIGN §2 table."""
    k = hf_key
    for hf, official in [
        ("model.vision_tower.", "model.vision_tower_high."),
        ("patch_embed.projection.", "patch_embed.proj."),
        ("neck.conv1.", "neck.0."), ("neck.layer_norm1.", "neck.1."),
        ("neck.conv2.", "neck.2."), ("neck.layer_norm2.", "neck.3."),
        ("model.multi_modal_projector.conv_upsampler1.", "model.net_2."),
        ("model.multi_modal_projector.conv_upsampler2.", "model.net_3."),
        ("model.multi_modal_projector.multimodal_projector.", "model.mm_projector_vary."),
        ("model.language_model.", "model."),
    ]:  # fmt: skip
        k = k.replace(hf, official)
    if k.startswith("model.vision_tower_high."):
        k = k.replace(".layers.", ".blocks.").replace(".layer_norm1.", ".norm1.").replace(".layer_norm2.", ".norm2.")
    return k


@pytest.fixture(scope="module")
def tokenizer():
    return GOTTokenizer.default()


@pytest.fixture(scope="module")
def referee():
    """A random transformers GotOcr2 at the tiny_qwen shape, every weight non-trivial."""
    cfg = load_model_config("tiny_qwen")
    v = cfg.vision
    hf_cfg = GotOcr2Config(
        vision_config=dict(hidden_size=v.width, output_channels=v.out_channels, num_hidden_layers=v.depth,
                           num_attention_heads=v.heads, image_size=v.image_size, patch_size=v.patch_size,
                           window_size=v.window_size, global_attn_indexes=list(v.global_layers), mlp_dim=v.mlp_dim),
        text_config=dict(cfg.decoder), image_token_index=cfg.image_token_id, image_seq_length=v.tokens_per_view,
    )  # fmt: skip
    torch.manual_seed(0)
    model = GotOcr2ForConditionalGeneration(hf_cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:  # GotOcr2 initialises the encoder at std 1e-10: make it matter
                p.normal_(std=0.05)
    return model


def inputs(cfg, views: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = [5, 17] + [cfg.image_token_id] * (cfg.vision.tokens_per_view * views) + torch.randint(10, 7000, (9,), generator=g).tolist()
    images = torch.randint(0, 256, (views, 3, cfg.vision.image_size, cfg.vision.image_size), dtype=torch.uint8, generator=g)
    pixels = (images.float() / 255 - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return torch.tensor([ids]), images, pixels


def assert_same_logits(ours: torch.Tensor, ref: torch.Tensor) -> None:
    rel = ((ours - ref).abs().max() / ref.abs().max()).item()
    assert rel <= 1e-4, rel


def write_official(referee, tokenizer, path) -> None:
    path.mkdir()
    state = {official_name(k): v.contiguous().clone() for k, v in referee.state_dict().items()}
    state["lm_head.weight"] = state["model.embed_tokens.weight"].clone()  # the release stores the copy
    save_file(state, str(path / "model.safetensors"))
    config = dict(referee.config.text_config.to_dict(), architectures=["GOTQwenForCausalLM"], model_type="GOT",
                  im_patch_token=tokenizer.imgpad_id, im_start_token=tokenizer.img_start_id,
                  im_end_token=tokenizer.img_end_id, image_token_len=16, use_im_start_end=True)  # fmt: skip
    (path / "config.json").write_text(json.dumps(config))
    (path / "qwen.tiktoken").write_bytes(tokenizer.source.read_bytes())


def run_convert(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "train/convert.py"), *map(str, args)], capture_output=True, text=True)


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
    assert ckpt.cfg.vision == load_model_config("tiny_qwen").vision  # read back from the weight shapes
    ours = model_from_checkpoint(ckpt).eval()
    ids, images, pixels = inputs(ckpt.cfg, views=3, seed=1)
    with torch.no_grad():
        assert_same_logits(ours(ids, images), referee(input_ids=ids, pixel_values=pixels).logits)


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
        assert json.loads((tmp_path / "b/tokenizer.json").read_text())["model"]["vocab"] == json.loads(
            (tmp_path / "a/tokenizer.json").read_text()
        )["model"]["vocab"]


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
    for key in ("model.layers.1.mlp.up_proj.weight", "model.vision_tower_high.blocks.0.attn.qkv.weight", "model.extra_head.weight"):
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
