"""What each stage starts from and what it trains.

| Stage | Starts from                                                  | Trains                      |
| 1     | fresh encoder + projector, OPT-class decoder (path or config) | everything                  |
| 2     | stage-1 encoder (its projector and decoder dropped), a new    | everything                  |
|       | projector, the Qwen decoder (path or config)                  |                             |
| 3     | the whole stage-2 model                                       | projector + decoder         |
"""

from dataclasses import dataclass
from pathlib import Path

from got.model.checkpoint import load_checkpoint, model_from_checkpoint
from got.model.got import ComputeConfig, GOTConfig, GOTModel
from got.tokenizer import GOTTokenizer
from got.train.lora import LoraConfig, add_lora


@dataclass
class InitConfig:
    decoder_path: str | None = None  # local transformers directory of the decoder (OPT-125M, Qwen-0.5B, ...)
    encoder_from: str | None = None  # got-layout export whose vision.* weights start the encoder (stage 2)
    model_from: str | None = None  # a checkpoint loaded whole (stage 3, fine-tuning)
    model_layout: str = "auto"  # layout of model_from: auto (read off its config.json) | got | official | hf
    tokenizer: str | None = None  # a *.tiktoken; default: model_from's, else the shipped tiny vocabulary


@dataclass
class FreezeConfig:
    vision: bool = False
    projector: bool = False
    decoder: bool = False


def _tokenizer(init: InitConfig, found: GOTTokenizer | None) -> GOTTokenizer:
    if init.tokenizer:
        return GOTTokenizer.from_file(init.tokenizer)
    return found or GOTTokenizer.default()


TOKENIZER_HINT = (
    "give the model's vocabulary with init.tokenizer=PATH/*.tiktoken (for the Qwen decoder of the paper "
    "sizes: its qwen.tiktoken, 151,643 ranks; the shipped got-tiny.tiktoken fits only the tiny models)"
)


def check_tokenizer(cfg: GOTConfig, tokenizer: GOTTokenizer) -> None:
    """The model's special-token ids and vocabulary must be the tokenizer's, or training silently learns noise."""
    expected = {
        "image_token_id": tokenizer.imgpad_id,
        "eos_token_id": tokenizer.im_end_id,
        "pad_token_id": tokenizer.pad_id,
    }
    wrong = {k: (getattr(cfg, k), v) for k, v in expected.items() if getattr(cfg, k) != v}
    if wrong:
        raise ValueError(
            f"model config ids do not match tokenizer {tokenizer.source}: "
            + ", ".join(f"{k}={a} but the tokenizer says {b}" for k, (a, b) in wrong.items())
            + f"; {TOKENIZER_HINT}"
        )
    vocab = cfg.decoder.get("vocab_size", 0)
    if tokenizer.vocab_size > vocab:
        raise ValueError(
            f"tokenizer {tokenizer.source} has {tokenizer.vocab_size} ids; the decoder embeds only "
            f"{vocab}; {TOKENIZER_HINT}"
        )


def check_tokenizer_early(cfg: GOTConfig, init: InitConfig) -> None:
    """The tokenizer check of a run that builds its model from the config, before the model is built. (A run
    with init.model_from checks against the checkpoint's config, once it is read.)"""
    if not init.model_from:
        check_tokenizer(cfg, _tokenizer(init, None))


def check_init(stage: int, init: InitConfig) -> None:
    """Stage 3 (fine-tuning runs as stage 3) continues a whole model; without init.model_from it would quietly
    train a random one (with freeze.vision=false nothing else objects). Checked before any work."""
    if stage not in (1, 2, 3, 4):
        raise ValueError(f"stage must be 1, 2, 3 or 4 (RL), got {stage}")
    if stage >= 3 and not init.model_from:
        raise ValueError(
            "stages 3 and 4 and fine-tuning start from a whole model: set init.model_from=DIR (a got-layout "
            "checkpoint from train/convert.py or a run's final/; init.model_layout=official|hf reads "
            "those layouts directly)"
        )


def build_model(
    cfg: GOTConfig, compute: ComputeConfig, init: InitConfig, freeze: FreezeConfig, lora: LoraConfig
) -> tuple[GOTModel, GOTTokenizer]:
    """The model a run starts from (before any resume), with its tokenizer and freeze policy applied. A loaded
    checkpoint brings its architecture; how it is computed is the run's."""
    if init.model_from:
        ckpt = load_checkpoint(init.model_from, init.model_layout)
        model, tokenizer = model_from_checkpoint(ckpt, compute), _tokenizer(init, ckpt.tokenizer)
    else:
        if freeze.vision and not init.encoder_from:
            raise ValueError(
                "freeze.vision is set but the encoder is freshly initialised: set init.model_from "
                "(a checkpoint to fine-tune) or init.encoder_from"
            )
        model = (
            GOTModel.with_pretrained_decoder(cfg, init.decoder_path, compute)
            if init.decoder_path
            else GOTModel(cfg, compute)
        )
        tokenizer = _tokenizer(init, None)
        if init.encoder_from:
            load_encoder(model, init.encoder_from)
    check_tokenizer(model.cfg, tokenizer)
    blind = model.cfg.zero_image_features  # the no-image baseline: no gradient reaches the encoder or projector
    model.set_trainable(
        vision=not (freeze.vision or blind), projector=not (freeze.projector or blind), decoder=not freeze.decoder
    )
    if lora.enabled:
        add_lora(model, lora)
    return model, tokenizer


def load_encoder(model: GOTModel, path: str | Path) -> None:
    """Stage hand-over: the encoder of a previous stage's export; its projector and decoder are dropped."""
    ckpt = load_checkpoint(path, "got")
    if ckpt.cfg.vision != model.cfg.vision:
        raise ValueError(f"encoder in {path} has config {ckpt.cfg.vision}, this run expects {model.cfg.vision}")
    state = {k.removeprefix("vision."): v for k, v in ckpt.state.items() if k.startswith("vision.")}
    model.vision.load_state_dict(state, strict=True)
