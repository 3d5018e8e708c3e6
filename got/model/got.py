"""GOTModel: vision encoder + projector + any transformers causal LM.

The prompt carries `<img>` + `<imgpad>`×(tokens_per_view·views) + `</img>`; the projected features of all
views, in order, replace the `<imgpad>` embeddings. Training rows may be packed: several samples in one row
with position_ids restarting at 0 for each, and no attention across them.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

from got.model import attention  # noqa: F401  (registers the sdpa_varlen attention)
from got.model.loss import linear_cross_entropy
from got.model.projector import Projector
from got.model.views import Views, normalize
from got.model.vision import VisionConfig, VisionEncoder

# Decoders whose masking derives packed-sequence boundaries from position_ids (transformers'
# create_causal_mask does so when it is handed position_ids and no 2D mask). OPT is not among them: its
# mask ignores position_ids, so packed OPT rows get an explicit block-diagonal mask.
PACKS_FROM_POSITION_IDS = frozenset({"qwen2", "qwen3", "llama", "mistral"})


# Settings of a run that older checkpoints stored in the model config; they now live in ComputeConfig.
LEGACY_RUN_KEYS = ("attn_implementation", "loss_chunk_tokens", "decoder_grad_checkpointing")


@dataclass
class ComputeConfig:
    """How a run computes the model, not what the model is: chosen per run, never saved with the weights."""

    attn_implementation: str = (
        "sdpa_varlen"  # decoder attention: sdpa_varlen (SDPA per packed sample) | sdpa | eager | flash_attention_2
    )
    loss_chunk_tokens: int = 1024  # a chunk holds (tokens, vocab) fp32 logits: 0.6 GB at 151,860
    vision_grad_checkpointing: bool = False  # recompute each encoder block in backward
    decoder_grad_checkpointing: bool = False  # recompute each decoder layer in backward: less memory, ~1/3 more compute


@dataclass
class GOTConfig:
    """What the model is: saved with its weights (config.json of the got layout)."""

    vision: VisionConfig = field(default_factory=VisionConfig)
    projector_channels: int = 1024  # P: the second projector conv's width (1024 in the released model)
    decoder: dict = field(default_factory=dict)  # a transformers config dict, with its model_type
    image_token_id: int = 151859  # <imgpad>
    eos_token_id: int = 151645  # <|im_end|>
    pad_token_id: int = 151643  # <|endoftext|>
    crop_tiles: tuple[int, int] = (1, 6)  # multi-crop grids have min..max tiles (got.model.views)
    zero_image_features: bool = False  # the no-image baseline: zeros replace the image features (encoder skipped)

    def __post_init__(self) -> None:
        if not isinstance(self.vision, (dict, VisionConfig)) or not isinstance(self.decoder, dict):
            raise ValueError(
                f"model.vision and model.decoder must be mappings, got a {type(self.vision).__name__} "
                f"and a {type(self.decoder).__name__}"
            )
        if isinstance(self.vision, dict):
            unknown = sorted(set(self.vision) - set(VisionConfig.__dataclass_fields__))
            if unknown:
                raise ValueError(
                    f"unknown vision config keys {unknown}; expected {sorted(VisionConfig.__dataclass_fields__)}"
                )
            self.vision = VisionConfig(**self.vision)
        if self.decoder and "model_type" not in self.decoder:
            raise ValueError("model.decoder must name its transformers model_type (e.g. qwen2, opt)")
        theta, rope = self.decoder.get("rope_theta"), self.decoder.get("rope_parameters") or {}
        if theta is not None and "rope_theta" in rope and float(theta) != float(rope["rope_theta"]):
            # transformers 5 would silently keep rope_parameters' value
            raise ValueError(
                f"model.decoder sets rope_theta={theta} and rope_parameters.rope_theta={rope['rope_theta']}: keep one"
            )
        self.crop_tiles = tuple(self.crop_tiles)
        self.views  # an impossible tile range fails here, not in a loader worker

    @classmethod
    def from_dict(cls, d: dict) -> "GOTConfig":
        if not isinstance(d, dict):
            raise ValueError(f"the model config must be a mapping of fields, got a {type(d).__name__}")
        d = {k: v for k, v in d.items() if k not in LEGACY_RUN_KEYS}
        if isinstance(d.get("vision"), dict):
            d["vision"] = {k: v for k, v in d["vision"].items() if k != "grad_checkpointing"}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown GOT model config keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def views(self) -> Views:
        return Views(self.vision.image_size, self.vision.tokens_per_view, *self.crop_tiles)

    def decoder_config(self) -> PretrainedConfig:
        d = dict(self.decoder)
        return AutoConfig.for_model(d.pop("model_type"), **d)


class GOTModel(nn.Module):
    def __init__(self, cfg: GOTConfig, compute: ComputeConfig | None = None, decoder: PreTrainedModel | None = None):
        super().__init__()
        self.cfg = cfg
        self.compute = compute = compute or ComputeConfig()
        self.vision = VisionEncoder(cfg.vision, compute.vision_grad_checkpointing)
        if decoder is None:
            decoder = AutoModelForCausalLM.from_config(
                cfg.decoder_config(), attn_implementation=compute.attn_implementation
            )
        if compute.decoder_grad_checkpointing:  # non-reentrant: correct with frozen inputs (LoRA, frozen embeddings)
            decoder.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        self.decoder = decoder
        self.projector = Projector(cfg.vision.out_channels, cfg.projector_channels, self.d_model)

    @classmethod
    def with_pretrained_decoder(
        cls, cfg: GOTConfig, path: str | Path, compute: ComputeConfig | None = None, dtype: torch.dtype | None = None
    ) -> "GOTModel":
        """A fresh encoder and projector in front of a decoder loaded from a local transformers directory."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"decoder path {path} has no config.json (expected a local transformers model)")
        compute = compute or ComputeConfig()
        decoder = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, attn_implementation=compute.attn_implementation
        )
        vocab = cfg.decoder.get("vocab_size")
        if vocab and vocab != decoder.config.vocab_size:  # one GOT tokenizer for every decoder
            decoder.resize_token_embeddings(vocab)
        length = cfg.decoder.get("max_position_embeddings", 0)
        if decoder.config.model_type == "opt" and length > decoder.config.max_position_embeddings:
            stretch_opt_positions(decoder, length)
        cfg.decoder = decoder.config.to_dict()
        return cls(cfg, compute, decoder)

    @property
    def d_model(self) -> int:
        return self.decoder.get_input_embeddings().embedding_dim

    @property
    def device(self) -> torch.device:
        return self.projector.linear.weight.device

    @property
    def lm_head(self) -> nn.Module:
        return self.decoder.get_output_embeddings()

    def set_trainable(self, *, vision: bool = True, projector: bool = True, decoder: bool = True) -> None:
        for module, flag in ((self.vision, vision), (self.projector, projector), (self.decoder, decoder)):
            module.requires_grad_(flag)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 views (V, 3, S, S) -> projected features (V, tokens_per_view, d_model)."""
        if images.dtype != torch.uint8:
            raise TypeError(f"images must be uint8 (V, 3, S, S), normalised on the device; got {images.dtype}")
        if self.cfg.zero_image_features:
            return self.projector.linear.weight.new_zeros(len(images), self.cfg.vision.tokens_per_view, self.d_model)
        weight = self.projector.linear.weight
        return self.projector(self.vision(normalize(images, weight.dtype, weight.device)))

    def embed(self, input_ids: torch.Tensor, images: torch.Tensor | None) -> torch.Tensor:
        embeds = self.decoder.get_input_embeddings()(input_ids)
        slots = input_ids == self.cfg.image_token_id
        n_slots = int(slots.sum())
        if images is None or len(images) == 0:
            if n_slots:
                raise ValueError(f"input has {n_slots} <imgpad> tokens but no images")
            return embeds
        features = self.image_features(images)
        if n_slots != features.shape[0] * features.shape[1]:
            raise ValueError(
                f"input has {n_slots} <imgpad> tokens but {features.shape[0]} views × {features.shape[1]} tokens"
            )
        return embeds.masked_scatter(slots[..., None], features.to(embeds.dtype))

    def decoder_attention_mask(
        self, position_ids: torch.Tensor | None, attention_mask: torch.Tensor | None, dtype: torch.dtype
    ) -> torch.Tensor | None:
        if attention_mask is not None or position_ids is None:
            return attention_mask
        if self.decoder.config.model_type in PACKS_FROM_POSITION_IDS:
            return None
        return packed_causal_mask(position_ids, dtype)

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        images: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        embeds = self.embed(input_ids, images)
        mask = self.decoder_attention_mask(position_ids, attention_mask, embeds.dtype)
        out = self.decoder.base_model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=False
        )
        return out.last_hidden_state

    def forward(
        self,
        input_ids: torch.Tensor,
        images: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean cross-entropy over labelled tokens when labels are given, else logits (B, L, vocab).

        input_ids, labels, position_ids: (B, L); labels are aligned with input_ids (not shifted) and -100
        where nothing is trained. images: uint8 (V, 3, S, S), the views of all samples in order.
        attention_mask: an optional (B, L) padding mask; packed rows pass position_ids instead.
        """
        hidden = self.hidden_states(input_ids, images, position_ids, attention_mask)
        if labels is None:
            return self.lm_head(hidden)
        return linear_cross_entropy(
            hidden[:, :-1], self.lm_head.weight, labels[:, 1:], chunk_tokens=self.compute.loss_chunk_tokens
        )


def packed_causal_mask(position_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive (B, 1, L, L) mask: causal within each packed sample, blocked across samples."""
    sample = (position_ids == 0).cumsum(-1)
    length = position_ids.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=position_ids.device).tril()
    allowed = (sample[:, :, None] == sample[:, None, :]) & causal
    mask = torch.zeros(allowed.shape, dtype=dtype, device=position_ids.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]


@torch.no_grad()
def stretch_opt_positions(decoder: PreTrainedModel, length: int) -> None:
    """Linearly stretch OPT's learned position table (2048 rows for OPT-125M) to `length` positions."""
    old = decoder.base_model.decoder.embed_positions
    offset = old.offset  # OPT keeps 2 leading rows that positions never index
    table = old.weight[offset:]
    stretched = nn.functional.interpolate(table.T[None], size=length, mode="linear", align_corners=True)[0].T
    new = type(old)(length, table.shape[1]).to(device=table.device, dtype=table.dtype)
    new.weight.copy_(torch.cat([old.weight[:offset], stretched]))
    decoder.base_model.decoder.embed_positions = new
    decoder.config.max_position_embeddings = length
