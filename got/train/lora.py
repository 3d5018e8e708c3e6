"""LoRA on the decoder with peft, injected in place so GOTModel keeps talking to a plain transformers decoder,
and merged into plain weights on export (a LoRA run exports a model any tool can load)."""

from dataclasses import dataclass, field

import torch

from got.model.got import GOTModel


@dataclass
class LoraConfig:
    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


def add_lora(model: GOTModel, cfg: LoraConfig) -> None:
    """Inject adapters into the decoder; only they train there (the encoder and projector keep their policy)."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    names = {n.rsplit(".", 1)[-1] for n, m in model.decoder.named_modules() if isinstance(m, torch.nn.Linear)}
    missing = sorted(set(cfg.target_modules) - names)
    if missing:
        raise ValueError(f"lora.target_modules {missing} are not linear layers of the decoder; it has {sorted(names)}")
    model.decoder.requires_grad_(False)
    peft_cfg = PeftLoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=list(cfg.target_modules)
    )
    inject_adapter_in_model(peft_cfg, model.decoder)  # the adapters are created trainable


def merged_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` (the model's full state) with every LoRA delta folded into its base weight, under plain names."""
    from peft.tuners.lora import LoraLayer

    merged = {k: v for k, v in state.items() if ".lora_" not in k}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            base = f"{name}.base_layer"
            weight = merged.pop(f"{base}.weight")
            delta = sum(module.get_delta_weight(a) for a in module.active_adapters)
            merged[f"{name}.weight"] = (weight.float() + delta.float().to(weight.device)).to(weight.dtype)
            if f"{base}.bias" in merged:
                merged[f"{name}.bias"] = merged.pop(f"{base}.bias")
    return merged
