"""Checkpoints in three layouts, convertible both ways through this project's own (`got`) names.

- got:      config.json {"format": "got", "model": GOTConfig}, model.safetensors, the *.tiktoken vocabulary.
- official: ucaslcl/GOT-OCR2_0: a Qwen2 config.json with GOT's extra keys, model.safetensors, qwen.tiktoken.
            The vision config is not stored there; it is read back from the weight shapes.
- hf:       transformers' GotOcr2ForConditionalGeneration directory (config, weights, tokenizer, processor).

Only safetensors are read: pickled checkpoints can run code when loaded.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from got.model.got import ComputeConfig, GOTConfig, GOTModel
from got.model.vision import VisionConfig
from got.tokenizer import SPECIAL_TOKENS, GOTTokenizer, special_token_ids

LAYOUTS = ("got", "official", "hf")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")

# (got pattern, other pattern); the first match wins, in either direction. In the release, net_2 and net_3 (our
# projector convs) are members of the vision tower (`model.vision_tower_high.net_2.weight`), so their rules come
# before the tower's own.
OFFICIAL_NAMES = [
    ("projector.conv1.{rest}", "model.vision_tower_high.net_2.{rest}"),
    ("projector.conv2.{rest}", "model.vision_tower_high.net_3.{rest}"),
    ("vision.{rest}", "model.vision_tower_high.{rest}"),
    ("projector.linear.{rest}", "model.mm_projector_vary.{rest}"),
    ("decoder.model.{rest}", "model.{rest}"),
    ("decoder.lm_head.{rest}", "lm_head.{rest}"),
]
HF_NAMES = [
    ("vision.patch_embed.proj.{rest}", "vision_tower.patch_embed.projection.{rest}"),
    ("vision.blocks.{n}.norm1.{rest}", "vision_tower.layers.{n}.layer_norm1.{rest}"),
    ("vision.blocks.{n}.norm2.{rest}", "vision_tower.layers.{n}.layer_norm2.{rest}"),
    ("vision.blocks.{rest}", "vision_tower.layers.{rest}"),
    ("vision.neck.0.{rest}", "vision_tower.neck.conv1.{rest}"),
    ("vision.neck.1.{rest}", "vision_tower.neck.layer_norm1.{rest}"),
    ("vision.neck.2.{rest}", "vision_tower.neck.conv2.{rest}"),
    ("vision.neck.3.{rest}", "vision_tower.neck.layer_norm2.{rest}"),
    ("vision.{rest}", "vision_tower.{rest}"),
    ("projector.conv1.{rest}", "multi_modal_projector.conv_upsampler1.{rest}"),
    ("projector.conv2.{rest}", "multi_modal_projector.conv_upsampler2.{rest}"),
    ("projector.linear.{rest}", "multi_modal_projector.multimodal_projector.{rest}"),
    ("decoder.{rest}", "language_model.{rest}"),
]
# transformers 5 writes the names above but also reads its newer in-memory prefixes; accept both.
HF_NEW_PREFIXES = [
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
    ("model.vision_tower.", "vision_tower."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
]
# The official config.json is a transformers-4.37 Qwen2Config plus GOT's keys. Every key it may hold is listed
# below; any other is an error that names it (a dropped `rope_theta` once left RoPE at θ 10,000 instead of 1e6).
OFFICIAL_DECODER_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
    "use_cache",
    "tie_word_embeddings",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)
# Copied to and from the decoder config as they are; `rope_theta` moves into transformers 5's `rope_parameters`.
OFFICIAL_GOT_KEYS = (
    "model_type",
    "im_patch_token",
    "im_start_token",
    "im_end_token",
    "image_token_len",
    "use_im_start_end",
    "vision_select_layer",
    "freeze_vision_tower",
)
# Keys that describe the file, not the model: the weights carry their dtype, and auto_map names remote code that
# this project never runs.
OFFICIAL_METADATA_KEYS = ("architectures", "auto_map", "_name_or_path", "transformers_version", "torch_dtype")
OFFICIAL_TRANSFORMERS = "4.37.2"  # the version the official code pins: the config written is in its format
# transformers' GotOcr2 vision settings that our encoder implements only one way.
HF_VISION_FIXED = {"num_channels": 3, "hidden_act": "gelu", "qkv_bias": True, "use_abs_pos": True, "use_rel_pos": True}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read as the layout it claims to be."""


@dataclass
class Checkpoint:
    cfg: GOTConfig
    state: dict[str, torch.Tensor]  # got names
    tokenizer: GOTTokenizer | None


def _compile(pattern: str) -> re.Pattern:
    regex = re.escape(pattern).replace(r"\{n\}", r"(?P<n>\d+)").replace(r"\{rest\}", r"(?P<rest>.+)")
    return re.compile(f"^{regex}$")


def rename(keys: list[str], table: list[tuple[str, str]], reverse: bool = False) -> dict[str, str]:
    """Map each key through the first matching (source -> target) pattern pair; unmatched keys raise."""
    rules = [(_compile(b if reverse else a), b if not reverse else a) for a, b in table]
    out, unmatched = {}, []
    for key in keys:
        for regex, target in rules:
            m = regex.match(key)
            if m:
                out[key] = target.format(**m.groupdict())
                break
        else:
            unmatched.append(key)
    if unmatched:
        raise CheckpointError(f"{len(unmatched)} keys match no known name: {_preview(unmatched)}")
    return out


def _preview(keys: list[str], limit: int = 12) -> str:
    keys = sorted(keys)
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _existing(path: str | Path) -> Path:
    """The path, if it exists and is not a pickle file (unpickling can run code)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint path {path} does not exist")
    if path.is_file() and path.suffix in PICKLE_SUFFIXES:
        raise CheckpointError(f"{path} is a pickle checkpoint; only safetensors are loaded (pickles can run code)")
    return path


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of the *.safetensors files in a directory (or one file); refuses pickles with a clear error."""
    path = _existing(path)
    if path.is_file():
        files = [path]
    else:
        files = sorted(path.glob("*.safetensors"))
        pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if not files:
            hint = f"; found pickle files {pickles}, which are not loaded (they can run code)" if pickles else ""
            raise CheckpointError(f"no *.safetensors in {path}{hint}")
    state = {}
    for f in files:
        try:
            state.update(load_file(f))
        except (SafetensorError, OSError) as e:
            raise CheckpointError(f"{f} is not a readable safetensors file ({e})") from e
    return state


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(
            f"missing {path.name} in {path.parent} (a checkpoint is a directory holding config.json and *.safetensors)"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} holds a JSON {type(meta).__name__}, not an object")
    return meta


def _tied(cfg: GOTConfig) -> bool:
    return bool(cfg.decoder.get("tie_word_embeddings", False))


def expected_shapes(cfg: GOTConfig) -> dict[str, torch.Size]:
    """Parameter names and shapes of a GOTModel for cfg, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = GOTModel(cfg)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    if _tied(cfg):
        shapes.pop("decoder.lm_head.weight", None)
    return shapes


def validate(
    cfg: GOTConfig, state: dict[str, torch.Tensor], source: str, names: list[tuple[str, str]] | None = None
) -> dict[str, torch.Tensor]:
    """Drop a tied lm_head copy, then check names and shapes against the model.

    The error names the offending keys, in the source layout's own names when its table is given.
    """
    if _tied(cfg):
        state = {k: v for k, v in state.items() if k != "decoder.lm_head.weight"}
    shapes = expected_shapes(cfg)
    shown = rename(sorted(set(shapes) | set(state)), names) if names else {}
    show = lambda keys: _preview([shown.get(k, k) for k in keys])  # noqa: E731
    missing = [k for k in shapes if k not in state]
    unexpected = [k for k in state if k not in shapes]
    wrong = [k for k, s in shapes.items() if k in state and state[k].shape != s]
    problems = []
    if missing:
        problems.append(f"missing keys: {show(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {show(unexpected)}")
    if wrong:
        details = ", ".join(f"{shown.get(k, k)} {tuple(state[k].shape)} != {tuple(shapes[k])}" for k in wrong[:12])
        problems.append(f"wrong shapes ({len(wrong)}): {details}")
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))
    return state


def vision_config_from_state(state: dict[str, torch.Tensor], prefix: str = "vision.") -> VisionConfig:
    """Recover the encoder's sizes from its weights (the official checkpoint stores no vision config)."""
    try:
        patch = state[f"{prefix}patch_embed.proj.weight"]  # (width, 3, p, p)
        pos = state[f"{prefix}pos_embed"]  # (1, g, g, width)
        depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(rf"{re.escape(prefix)}blocks\.(\d+)\.", k)))
        rel = [state[f"{prefix}blocks.{i}.attn.rel_pos_h"].shape for i in range(depth)]
        mlp_dim = state[f"{prefix}blocks.0.mlp.lin1.weight"].shape[0]
        out_channels = state[f"{prefix}neck.0.weight"].shape[0]
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"cannot infer the vision config: encoder weights incomplete ({e})") from e
    width, grid, head_dim = patch.shape[0], pos.shape[1], rel[0][1]
    global_layers = tuple(i for i, s in enumerate(rel) if s[0] == 2 * grid - 1)
    windows = {(s[0] + 1) // 2 for i, s in enumerate(rel) if i not in global_layers}
    return VisionConfig(
        image_size=grid * patch.shape[-1],
        patch_size=patch.shape[-1],
        width=width,
        depth=depth,
        heads=width // head_dim,
        mlp_dim=mlp_dim,
        window_size=windows.pop() if windows else 14,
        global_layers=global_layers,
        out_channels=out_channels,
    )


def _token_ids(tokenizer: GOTTokenizer | None) -> dict:
    if tokenizer is None:
        return {}
    return dict(image_token_id=tokenizer.imgpad_id, eos_token_id=tokenizer.im_end_id, pad_token_id=tokenizer.pad_id)


def _find_tokenizer(path: Path) -> GOTTokenizer | None:
    return GOTTokenizer.from_dir(path) if any(path.glob("*.tiktoken")) else None


def _ids_for_imgpad(image_token_id: int) -> dict[str, int]:
    """Every special token's id in a GOT vocabulary whose <imgpad> is image_token_id (they follow in a fixed order)."""
    return special_token_ids(image_token_id - SPECIAL_TOKENS.index("<imgpad>"))


# --- the official config ------------------------------------------------------------------------------


def decoder_from_official(meta: dict) -> dict:
    """The decoder config (transformers 5 names) that an official config.json describes; unknown keys are an error."""
    known = {*OFFICIAL_DECODER_KEYS, "rope_theta", *OFFICIAL_GOT_KEYS, *OFFICIAL_METADATA_KEYS}
    unknown = sorted(set(meta) - known)
    if unknown:
        raise CheckpointError(
            f"config.json has keys the official GOT layout does not define: {unknown}; "
            "refusing to guess what they mean (see docs/interop.md#configs)"
        )
    decoder = {"model_type": "qwen2", **{k: meta[k] for k in OFFICIAL_DECODER_KEYS if k in meta}}
    if "rope_theta" in meta:
        decoder["rope_parameters"] = {"rope_type": "default", "rope_theta": float(meta["rope_theta"])}
    return decoder


def _official_token_ids(meta: dict, tokenizer: GOTTokenizer | None, vision: VisionConfig) -> dict:
    """GOTConfig's token ids from GOT's config keys, checked against each other, the tokenizer and the encoder."""
    missing = [k for k in ("im_patch_token", "im_start_token", "im_end_token") if k not in meta]
    if missing:
        raise CheckpointError(f"config.json lacks GOT's {missing}: not an official GOT config")
    ids = _ids_for_imgpad(meta["im_patch_token"])
    stated = {"<img>": meta["im_start_token"], "</img>": meta["im_end_token"], "<imgpad>": meta["im_patch_token"]}
    wrong = []
    if any(ids[name] != v for name, v in stated.items()):
        wrong.append(
            f"im_start_token={stated['<img>']}, im_end_token={stated['</img>']}, im_patch_token="
            f"{stated['<imgpad>']} are not GOT's consecutive <img> </img> <imgpad>"
        )
    if tokenizer is not None:
        wrong += [
            f"{name} is {v} in config.json but {tokenizer.token_id(name)} in {tokenizer.source}"
            for name, v in stated.items()
            if tokenizer.token_id(name) != v
        ]
    if meta.get("image_token_len", vision.tokens_per_view) != vision.tokens_per_view:
        wrong.append(
            f"image_token_len={meta['image_token_len']} but the encoder gives {vision.tokens_per_view} tokens per view"
        )
    if not meta.get("use_im_start_end", True):
        wrong.append("use_im_start_end=false (GOT's prompt always has <img> ... </img>)")
    if meta.get("vision_select_layer", -1) != -1:
        wrong.append(f"vision_select_layer={meta['vision_select_layer']} (GOT uses the encoder's output, -1)")
    if wrong:
        raise CheckpointError("config.json does not match this GOT layout: " + "; ".join(wrong))
    return dict(image_token_id=ids["<imgpad>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])


def official_config(cfg: GOTConfig, dtype: torch.dtype) -> dict:
    """The official config.json of a model (the inverse of decoder_from_official + _official_token_ids)."""
    built = cfg.decoder_config()
    rope = built.rope_parameters or {"rope_type": "default", "rope_theta": 10000.0}
    if rope.get("rope_type", "default") != "default":
        raise CheckpointError(f"the official layout holds plain RoPE only, not rope_parameters={rope}")
    if cfg.vision.layer_norm_eps != 1e-6:
        raise CheckpointError(f"the official encoder has LayerNorm eps 1e-6, not {cfg.vision.layer_norm_eps}")
    meta = {k: cfg.decoder.get(k, getattr(built, k, None)) for k in OFFICIAL_DECODER_KEYS}
    ids = _ids_for_imgpad(cfg.image_token_id)
    meta.update(
        rope_theta=float(rope["rope_theta"]),
        architectures=["GOTQwenForCausalLM"],
        model_type="GOT",
        im_patch_token=ids["<imgpad>"],
        im_start_token=ids["<img>"],
        im_end_token=ids["</img>"],
        image_token_len=cfg.vision.tokens_per_view,
        use_im_start_end=True,
        vision_select_layer=-1,
        freeze_vision_tower=False,
        torch_dtype=str(dtype).removeprefix("torch."),
        transformers_version=OFFICIAL_TRANSFORMERS,
    )
    return {k: v for k, v in sorted(meta.items()) if v is not None}


# --- readers -------------------------------------------------------------------------------------------


def detect_layout(path: str | Path) -> str:
    """Which of LAYOUTS a checkpoint directory is in, from its config.json."""
    path = _existing(path)
    path = path.parent if path.is_file() else path
    meta = _read_json(path / "config.json")
    found = {
        "got": meta.get("format") == "got",
        "hf": meta.get("model_type") == "got_ocr2",
        "official": meta.get("model_type") == "GOT",
    }
    for layout, match in found.items():
        if match:
            return layout
    raise CheckpointError(
        f'{path}/config.json is in none of the layouts {LAYOUTS}: expected "format": "got", '
        f"or model_type GOT (official) or got_ocr2 (hf), found model_type={meta.get('model_type')!r}"
    )


def _claimed(path: Path, layout: str) -> None:
    """Raise a clear error when the directory is in another layout than the one it is read as."""
    try:
        found = detect_layout(path)
    except CheckpointError:
        found = None
    if found != layout:
        hint = f"; it is in the {found} layout (--from {found})" if found else ""
        raise CheckpointError(f"{path}/config.json is not a {layout}-layout config{hint}")


def read_got(path: Path) -> Checkpoint:
    _claimed(path, "got")
    meta = _read_json(path / "config.json")
    if "model" not in meta:
        raise CheckpointError(
            f'{path}/config.json has no "model" section (a got-layout config holds the GOTConfig there)'
        )
    try:
        cfg = GOTConfig.from_dict(meta["model"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}/config.json: {e}") from None
    state = validate(cfg, read_safetensors(path), str(path))
    return Checkpoint(cfg, state, _find_tokenizer(path))


def read_official(path: Path) -> Checkpoint:
    _claimed(path, "official")
    meta = _read_json(path / "config.json")
    decoder = decoder_from_official(meta)
    raw = read_safetensors(path)
    state = {new: raw[old] for old, new in rename(list(raw), OFFICIAL_NAMES, reverse=True).items()}
    tokenizer = _find_tokenizer(path)
    vision = vision_config_from_state(state)
    cfg = GOTConfig(
        vision=vision,
        # without net_3, validate() below names it as missing
        projector_channels=state["projector.conv2.weight"].shape[0] if "projector.conv2.weight" in state else 1024,
        decoder=decoder,
        **_official_token_ids(meta, tokenizer, vision),
    )
    return Checkpoint(cfg, validate(cfg, state, str(path), OFFICIAL_NAMES), tokenizer)


def read_hf(path: Path) -> Checkpoint:
    """transformers' own GotOcr2Config reads the config, so a sparse one (the HF-native release's) gets its defaults."""
    from transformers import GotOcr2Config

    _claimed(path, "hf")
    try:
        hf_cfg = GotOcr2Config.from_dict(_read_json(path / "config.json"))
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}/config.json is not a readable GotOcr2 config ({e})") from None
    v = hf_cfg.vision_config
    unsupported = {k: getattr(v, k, None) for k, want in HF_VISION_FIXED.items() if getattr(v, k, None) != want}
    if unsupported:
        raise CheckpointError(f"{path}: vision_config {unsupported} is not GOT's encoder (expected {HF_VISION_FIXED})")
    vision = VisionConfig(
        image_size=v.image_size,
        patch_size=v.patch_size,
        width=v.hidden_size,
        depth=v.num_hidden_layers,
        heads=v.num_attention_heads,
        mlp_dim=v.mlp_dim,
        window_size=v.window_size,
        global_layers=tuple(v.global_attn_indexes),
        out_channels=v.output_channels,
        layer_norm_eps=v.layer_norm_eps,
    )
    if hf_cfg.image_seq_length != vision.tokens_per_view:
        raise CheckpointError(
            f"{path}: image_seq_length={hf_cfg.image_seq_length} but the encoder gives "
            f"{vision.tokens_per_view} tokens per view"
        )
    text = hf_cfg.text_config
    # GotOcr2 ties (or not) by its top-level flag, whatever text_config says.
    decoder = {**text.to_diff_dict(), "model_type": text.model_type, "tie_word_embeddings": hf_cfg.tie_word_embeddings}
    decoder.pop("transformers_version", None)
    raw = read_safetensors(path)
    for new, old in HF_NEW_PREFIXES:
        raw = {(old + k[len(new) :] if k.startswith(new) else k): t for k, t in raw.items()}
    state = {new: raw[old] for old, new in rename(list(raw), HF_NAMES, reverse=True).items()}
    tokenizer = _find_tokenizer(path) or (
        GOTTokenizer.from_hf_dir(path) if (path / "tokenizer.json").is_file() else None
    )
    ids = _token_ids(tokenizer) or {"image_token_id": hf_cfg.image_token_index}
    cfg = GOTConfig(vision=vision, projector_channels=text.hidden_size, decoder=decoder, **ids)
    return Checkpoint(cfg, validate(cfg, state, str(path), HF_NAMES), tokenizer)


# --- writers -------------------------------------------------------------------------------------------


def _save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    # safetensors refuses tensors that share memory (a tied lm_head); every tensor is written on its own.
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path / "model.safetensors"))


def write_got(ckpt: Checkpoint, path: Path) -> None:
    (path / "config.json").write_text(json.dumps({"format": "got", "model": ckpt.cfg.to_dict()}, indent=2))
    _save_weights(ckpt.state, path)
    if ckpt.tokenizer is not None:
        ckpt.tokenizer.save(path)


def write_official(ckpt: Checkpoint, path: Path) -> None:
    cfg = ckpt.cfg
    if cfg.decoder.get("model_type") != "qwen2":
        raise CheckpointError(f"the official layout holds a Qwen2 decoder, not {cfg.decoder.get('model_type')!r}")
    state = dict(ckpt.state)
    if _tied(cfg):  # the released checkpoint stores lm_head as a copy of the embedding
        state["decoder.lm_head.weight"] = state["decoder.model.embed_tokens.weight"]
    meta = official_config(cfg, state["decoder.model.embed_tokens.weight"].dtype)
    names = rename(list(state), OFFICIAL_NAMES)
    if ckpt.tokenizer is not None:
        ckpt.tokenizer.save(path, "qwen.tiktoken")
    (path / "config.json").write_text(json.dumps(meta, indent=2))
    _save_weights({names[k]: v for k, v in state.items()}, path)


def write_hf(ckpt: Checkpoint, path: Path) -> None:
    from transformers import AutoTokenizer, GotOcr2Config, GotOcr2ImageProcessorPil, GotOcr2Processor

    cfg = ckpt.cfg
    d_model = cfg.decoder.get("hidden_size")
    if cfg.projector_channels != d_model:
        raise CheckpointError(
            f"cannot export to hf: projector_channels P={cfg.projector_channels} != decoder width {d_model}. "
            "transformers' GotOcr2 ties the projector's second conv to the text width, so only P == d_model "
            "converts exactly (true of the released model)."
        )
    v = cfg.vision
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
            layer_norm_eps=v.layer_norm_eps,
        ),
        text_config=dict(cfg.decoder),
        image_token_index=cfg.image_token_id,
        image_seq_length=v.tokens_per_view,
        tie_word_embeddings=_tied(cfg),
    )
    hf_cfg.architectures = ["GotOcr2ForConditionalGeneration"]
    hf_cfg.save_pretrained(path)
    names = rename(list(ckpt.state), HF_NAMES)
    _save_weights({names[k]: t for k, t in ckpt.state.items()}, path)
    if ckpt.tokenizer is not None:
        ckpt.tokenizer.export_hf(path)
        images = GotOcr2ImageProcessorPil(size={"height": v.image_size, "width": v.image_size})
        GotOcr2Processor(image_processor=images, tokenizer=AutoTokenizer.from_pretrained(path)).save_pretrained(path)


READERS = {"got": read_got, "official": read_official, "hf": read_hf}
WRITERS = {"got": write_got, "official": write_official, "hf": write_hf}


def load_checkpoint(path: str | Path, layout: str = "auto") -> Checkpoint:
    """A checkpoint in any of LAYOUTS; "auto" tells the layout from its config.json."""
    if layout != "auto" and layout not in READERS:
        raise ValueError(f"unknown layout {layout!r}; choose from auto, {', '.join(LAYOUTS)}")
    path = _existing(path)
    path = path.parent if path.is_file() else path
    return READERS[detect_layout(path) if layout == "auto" else layout](path)


def save_checkpoint(ckpt: Checkpoint, path: str | Path, layout: str = "got") -> None:
    if layout not in WRITERS:
        raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")
    if layout != "got" and ckpt.cfg.zero_image_features:
        raise CheckpointError(
            f"a no-image baseline (zero_image_features) has no equivalent in the {layout} layout; keep it in the got layout"
        )
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    WRITERS[layout](ckpt, path)


def with_tokenizer(ckpt: Checkpoint, tokenizer: GOTTokenizer) -> Checkpoint:
    """Attach a tokenizer, taking the model's special-token ids from it."""
    vocab = ckpt.cfg.decoder.get("vocab_size", 0)
    if tokenizer.vocab_size > vocab:
        raise CheckpointError(
            f"tokenizer {tokenizer.source} has {tokenizer.vocab_size} ids but the model embeds {vocab}"
        )
    for key, value in _token_ids(tokenizer).items():
        setattr(ckpt.cfg, key, value)
    ckpt.tokenizer = tokenizer
    return ckpt


def convert(src: str | Path, dst: str | Path, src_layout: str, dst_layout: str) -> Checkpoint:
    ckpt = load_checkpoint(src, src_layout)
    save_checkpoint(ckpt, dst, dst_layout)
    return ckpt


def model_from_checkpoint(ckpt: Checkpoint, compute: ComputeConfig | None = None) -> GOTModel:
    """A GOTModel holding the checkpoint's weights (a tied lm_head is re-tied by the decoder)."""
    model = GOTModel(ckpt.cfg, compute)
    missing, unexpected = model.load_state_dict(ckpt.state, strict=False)
    assert not unexpected and set(missing) <= {"decoder.lm_head.weight"}, (missing, unexpected)  # validate() ran
    model.decoder.tie_weights()
    return model


def checkpoint_from_model(model: GOTModel, tokenizer: GOTTokenizer | None) -> Checkpoint:
    return Checkpoint(model.cfg, validate(model.cfg, model.state_dict(), "model"), tokenizer)
