"""Conformance with the official GOT code, not with ourselves.

../shared/official_tiny holds a checkpoint in the exact layout of the released ucaslcl/GOT-OCR2_0 and what the
official GOTQwenForCausalLM computed from it (its README): the prompt ids, the encoder and projector outputs, logits
and greedy ids. Everything here is compared with those numbers or with the official key names, never with a table
of our own converter.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file

from got.model.views import to_views
from got.model.checkpoint import (
    CheckpointError,
    checkpoint_from_model,
    decoder_from_official,
    load_checkpoint,
    model_from_checkpoint,
    official_config,
    save_checkpoint,
)
from got.model.generate import generate
from got.model.got import GOTConfig, GOTModel
from got.model.views import CLIP_MEAN, CLIP_STD
from got.prompts import build_query, encode_prompt

from conftest import QWEN_VOCAB, ROOT
from datagen import OFFICIAL_QWEN2_FIELDS, official_name

FIXTURE = ROOT.parent / "shared/official_tiny"
MAX_REL_ERR = 1e-4  # the fixture's README: a correct reader gives about 1e-6


@pytest.fixture(scope="module")
def reference() -> tuple[dict, dict[str, torch.Tensor]]:
    if not (FIXTURE / "reference.json").is_file() or not QWEN_VOCAB.is_file():
        pytest.skip(f"the official-code fixture is not at {FIXTURE} (or the Qwen vocabulary at {QWEN_VOCAB})")
    return json.loads((FIXTURE / "reference.json").read_text()), load_file(FIXTURE / "reference.safetensors")


@pytest.fixture(scope="module")
def official(reference, tmp_path_factory) -> Path:
    """The fixture as a user's download looks: config.json, model.safetensors (rebuilt bit-exactly), qwen.tiktoken,
    and the remote-code and tokenizer files beside them, which are never run or read."""
    path = tmp_path_factory.mktemp("GOT-OCR2_0")
    shutil.copy(FIXTURE / "config.json", path)
    shutil.copy(QWEN_VOCAB, path / "qwen.tiktoken")
    (path / "modeling_GOT.py").write_text("raise SystemExit('remote code must never run')\n")
    (path / "tokenizer_config.json").write_text(
        json.dumps({"auto_map": {"AutoTokenizer": ["tokenization_qwen.QWenTokenizer", None]}})
    )
    (path / "generation_config.json").write_text(json.dumps({"chat_format": "chatml", "max_new_tokens": 512}))
    result = subprocess.run(
        [sys.executable, FIXTURE / "regen.py", FIXTURE, path / "model.safetensors"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout + result.stderr
    return path


@pytest.fixture(scope="module")
def official_names(official, reference) -> list[str]:
    """The official model's state_dict names: reference.json gives their number, and the rebuilt file (its sha256
    is the one the official code's run recorded) gives the names themselves."""
    with safe_open(official / "model.safetensors", "pt") as f:
        names = sorted(f.keys())
    assert len(names) == reference[0]["state_dict_keys"] == 208
    return names


@pytest.fixture(scope="module")
def converted(official, tmp_path_factory) -> Path:
    """`python train/convert.py --from official --to got`, the first step of docs/finetune.md."""
    out = tmp_path_factory.mktemp("converted") / "got"
    result = run_convert("--from", "official", "--to", "got", official, out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def model(converted) -> GOTModel:
    return model_from_checkpoint(load_checkpoint(converted, "got")).eval()


def run_convert(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train/convert.py"), *map(str, args)], capture_output=True, text=True
    )


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return ((ours - ref).abs().max() / ref.abs().max()).item()


def input_views(size: int) -> torch.Tensor:
    """The fixture's page through this project's own view cutter (the official code resizes with PIL BICUBIC)."""
    image = torch.from_numpy(np.array(Image.open(FIXTURE / "input_image.png").convert("RGB"))).permute(2, 0, 1)
    return torch.stack(to_views([image], None, size))


def test_prompt_ids_are_the_official_ones(reference, converted):
    ref, tensors = reference
    tokenizer = load_checkpoint(converted).tokenizer
    ids = encode_prompt(tokenizer, build_query("ocr"), num_views=1, image_tokens=256)
    assert ids == ref["input_ids"] == tensors["input_ids"].tolist()
    assert (ids[ref["img_start_index"]], ids[ref["img_end_index"]]) == (tokenizer.img_start_id, tokenizer.img_end_id)


def test_logits_and_intermediates_match_the_official_through_our_view_cutter(reference, model):
    """One forward through the model, as it runs: the encoder's output (captured on its way), the projector's and
    the logits, each against the official code's."""
    ref, tensors = reference
    views = input_views(model.cfg.vision.image_size)
    pixels = (views.float() / 255 - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    assert (pixels - tensors["pixel_values"]).abs().max() < 1e-5  # the cutter gives the official pixels
    captured = []
    hook = model.vision.register_forward_hook(lambda module, args, out: captured.append(out))
    try:
        with torch.no_grad():
            logits = model(torch.tensor([ref["input_ids"]]), views)[0]
            neck = captured[0]
            assert rel_err(model.projector.conv2(model.projector.conv1(neck))[0], tensors["vision_out"]) < MAX_REL_ERR
            assert rel_err(model.projector(neck)[0], tensors["projector_out"]) < MAX_REL_ERR
    finally:
        hook.remove()
    assert rel_err(logits[ref["logits_positions"]], tensors["logits_at_positions"]) < MAX_REL_ERR
    assert rel_err(logits[ref["logits_last8_positions"]], tensors["logits_last8"]) < MAX_REL_ERR
    assert torch.equal(logits.argmax(-1), tensors["argmax_all_positions"])


def test_greedy_ids_are_the_official_ones(reference, model):
    """Plain greedy decoding here; with the official no-repeat-20 ban, through chat below."""
    ref, _ = reference
    views = input_views(model.cfg.vision.image_size)
    assert generate(model, [ref["input_ids"]], [views], max_new_tokens=10)[0] == ref["greedy"]["generated_ids"]


def test_chat_on_the_download_gives_the_official_prompt_and_answer(official, reference):
    """got.load + chat, the way a user calls the released weights: the official prompt ids, the official greedy
    answer (10 tokens, with the official no-repeat-20 of chat), stripped as the official chat strips it."""
    import got

    ref, _ = reference
    m = got.load(official)
    request = m.request(FIXTURE / "input_image.png")
    assert m.prompt(request) == ref["input_ids"]
    answer = m.chat(FIXTURE / "input_image.png", max_new_tokens=10)
    assert answer == m.tokenizer.decode(ref["greedy"]["official_generate_no_repeat_ngram_size_20"]).strip()


def test_api_reads_the_download_as_the_cli_does(official, converted):
    by_api, by_cli = load_checkpoint(official, "official"), load_checkpoint(converted, "got")
    assert load_checkpoint(official).cfg == by_api.cfg == by_cli.cfg  # "auto" finds the official layout
    assert by_api.state.keys() == by_cli.state.keys()
    assert all(torch.equal(by_api.state[k], by_cli.state[k]) for k in by_api.state)
    decoder = by_api.cfg.decoder_config()
    assert decoder.rope_parameters["rope_theta"] == 1e6 and decoder.tie_word_embeddings is False


def test_official_export_has_exactly_the_official_names(official_names, converted, tmp_path):
    result = run_convert("--from", "got", "--to", "official", converted, tmp_path / "from_ckpt")
    assert result.returncode == 0, result.stderr
    assert sorted(load_file(tmp_path / "from_ckpt/model.safetensors")) == official_names
    # A model built here, never read from the official names, exports the same names.
    cfg = load_checkpoint(converted).cfg
    save_checkpoint(checkpoint_from_model(GOTModel(cfg), None), tmp_path / "fresh", "official")
    assert sorted(load_file(tmp_path / "fresh/model.safetensors")) == official_names


def test_round_trip_official_got_official_got_is_identical(official, reference, tmp_path):
    for src, dst, a, b in (
        (official, tmp_path / "got1", "official", "got"),
        (tmp_path / "got1", tmp_path / "official", "got", "official"),
        (tmp_path / "official", tmp_path / "got2", "official", "got"),
    ):
        result = run_convert("--from", a, "--to", b, src, dst)
        assert result.returncode == 0, result.stderr
    first, second = load_file(official / "model.safetensors"), load_file(tmp_path / "official/model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert load_checkpoint(tmp_path / "got1").cfg == load_checkpoint(tmp_path / "got2").cfg
    # The config.json written is the official one, field for field.
    assert json.loads((tmp_path / "official/config.json").read_text()) == json.loads(
        (FIXTURE / "config.json").read_text()
    )
    assert (tmp_path / "official/qwen.tiktoken").read_bytes() == QWEN_VOCAB.read_bytes()


def test_hf_export_of_the_fixture_is_refused_with_the_reason(converted, tmp_path):
    result = run_convert("--from", "got", "--to", "hf", converted, tmp_path / "hf")
    assert result.returncode != 0 and "P=1024 != decoder width 64" in result.stderr
    assert "Traceback" not in result.stderr


def test_datagen_writes_the_official_names_and_config_keys(official_names):
    """tests/datagen.py's official layout (used by test_convert and test_finetune) is the fixture's."""
    from transformers import GotOcr2Config, GotOcr2ForConditionalGeneration

    from got.tokenizer import GOTTokenizer
    from datagen import official_config as datagen_config

    meta = json.loads((FIXTURE / "config.json").read_text())
    text = {k: meta[k] for k in OFFICIAL_QWEN2_FIELDS} | {"rope_theta": meta["rope_theta"], "model_type": "qwen2"}
    hf_cfg = GotOcr2Config(text_config=text, tie_word_embeddings=meta["tie_word_embeddings"])
    with torch.device("meta"):
        names = {official_name(k) for k in GotOcr2ForConditionalGeneration(hf_cfg).state_dict()}
    # transformers' GotOcr2 ties the projector width to d_model, so only the names (not shapes) can be compared.
    assert sorted(names) == official_names
    written = datagen_config(hf_cfg.text_config, GOTTokenizer.from_file(QWEN_VOCAB), 256)
    assert written == meta


# --- every field of the official config.json, one at a time -------------------------------------------------------

FIXTURE_META = json.loads((FIXTURE / "config.json").read_text()) if (FIXTURE / "config.json").is_file() else {}


def fixture_meta() -> dict:
    if not FIXTURE_META:
        pytest.skip(f"the official-code fixture is not at {FIXTURE}")
    return dict(FIXTURE_META)


def got_config(meta: dict, tokenizer=None) -> GOTConfig:
    """What read_official makes of a config.json, for the encoder of the release (256 tokens per view)."""
    from got.model.checkpoint import _official_token_ids
    from got.model.vision import VisionConfig

    return GOTConfig(
        vision=VisionConfig(),
        decoder=decoder_from_official(meta),
        **_official_token_ids(meta, tokenizer, VisionConfig()),
    )


# (official key, a value unlike the fixture's, what transformers 5's built decoder config shows for it)
DECODER_FIELDS = [
    ("rope_theta", 500000.0, lambda c: c.rope_parameters["rope_theta"]),
    ("rms_norm_eps", 1e-5, lambda c: c.rms_norm_eps),
    ("max_position_embeddings", 8192, lambda c: c.max_position_embeddings),
    ("tie_word_embeddings", True, lambda c: c.tie_word_embeddings),
    ("bos_token_id", 7, lambda c: c.bos_token_id),
    ("eos_token_id", 151645, lambda c: c.eos_token_id),
    ("pad_token_id", 151643, lambda c: c.pad_token_id),
    ("vocab_size", 151936, lambda c: c.vocab_size),
    ("hidden_size", 128, lambda c: c.hidden_size),
    ("intermediate_size", 256, lambda c: c.intermediate_size),
    ("num_hidden_layers", 3, lambda c: c.num_hidden_layers),
    ("num_attention_heads", 8, lambda c: c.num_attention_heads),
    ("num_key_value_heads", 2, lambda c: c.num_key_value_heads),
    ("hidden_act", "gelu", lambda c: c.hidden_act),
    ("initializer_range", 0.01, lambda c: c.initializer_range),
    ("attention_dropout", 0.1, lambda c: c.attention_dropout),
    ("use_cache", False, lambda c: c.use_cache),
    ("max_window_layers", 1, lambda c: c.max_window_layers),
]


@pytest.mark.parametrize("key, value, shown", DECODER_FIELDS, ids=[f[0] for f in DECODER_FIELDS])
def test_each_decoder_field_reaches_transformers_and_comes_back(key, value, shown):
    meta = fixture_meta() | {key: value}
    cfg = got_config(meta)
    assert shown(cfg.decoder_config()) == value
    assert official_config(cfg, torch.float32)[key] == value


def test_sliding_window_fields_reach_transformers_and_come_back():
    meta = fixture_meta() | {"use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 1}
    cfg = got_config(meta)
    built = cfg.decoder_config()
    assert (built.use_sliding_window, built.sliding_window) == (True, 4096)
    assert built.layer_types == ["full_attention", "sliding_attention"]  # layers from max_window_layers on
    back = official_config(cfg, torch.float32)
    assert (back["use_sliding_window"], back["sliding_window"], back["max_window_layers"]) == (True, 4096, 1)


def test_rope_theta_sets_the_rotary_frequencies():
    """θ reaches the model itself: inv_freq[i] = θ^(-2i/head_dim) (RoFormer's definition)."""
    from got.model.vision import VisionConfig

    cfg = got_config(fixture_meta())
    cfg.vision = VisionConfig(image_size=64, patch_size=16, width=32, depth=1, heads=2, mlp_dim=64, global_layers=(0,))
    decoder = GOTModel(cfg).decoder
    head_dim = cfg.decoder["hidden_size"] // cfg.decoder["num_attention_heads"]
    expected = 1e6 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    torch.testing.assert_close(decoder.model.rotary_emb.inv_freq.double(), expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("im_patch_token", 151850, "im_patch_token=151850 are not GOT's consecutive"),
        ("im_start_token", 151859, "im_start_token=151859"),
        ("image_token_len", 64, "image_token_len=64"),
        ("use_im_start_end", False, "use_im_start_end"),
        ("vision_select_layer", -2, "vision_select_layer=-2"),
        ("rope_scaling", {"type": "linear", "factor": 2.0}, "rope_scaling"),
        ("num_experts", 8, "num_experts"),
    ],
)
def test_got_fields_are_checked_and_unknown_fields_named(key, value, match):
    with pytest.raises(CheckpointError, match=match):
        got_config(fixture_meta() | {key: value})


def test_file_metadata_is_accepted_and_not_carried_into_the_model():
    meta = fixture_meta() | {"auto_map": {"AutoModel": "modeling_GOT.GOTQwenForCausalLM"}, "_name_or_path": "GOT"}
    decoder = got_config(meta).decoder
    assert not {"auto_map", "_name_or_path", "torch_dtype", "transformers_version", "architectures"} & set(decoder)


def test_a_tokenizer_that_disagrees_with_the_config_is_named(tiny):
    with pytest.raises(CheckpointError, match=r"<imgpad> is 151859 in config.json but 8216 in .*got-tiny.tiktoken"):
        got_config(fixture_meta(), tiny)


def test_got_token_ids_come_from_the_official_config():
    meta = fixture_meta()
    cfg = got_config(meta)
    assert (cfg.image_token_id, cfg.eos_token_id, cfg.pad_token_id) == (151859, 151645, 151643)  # DESIGN §3
    back = official_config(cfg, torch.float32)
    assert {k: back[k] for k in ("im_patch_token", "im_start_token", "im_end_token", "image_token_len")} == {
        k: meta[k] for k in ("im_patch_token", "im_start_token", "im_end_token", "image_token_len")
    }


def test_a_download_with_a_wrong_layout_flag_says_which_it_is(official, converted):
    with pytest.raises(CheckpointError, match=r"in the official layout \(--from official\)"):
        load_checkpoint(official, "hf")
    with pytest.raises(CheckpointError, match=r"in the got layout \(--from got\)"):
        load_checkpoint(converted, "official")
