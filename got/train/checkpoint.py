"""Atomic DeepSpeed checkpoints with the data position and RNG states, plus a consolidated safetensors export.

Layout of OUT/checkpoints/:
    step00000100/           DeepSpeed's engine state (model, optimizer, scheduler)
        rank000.pt ...      per rank: data-stream position and RNG states (loaded with weights_only=True)
        export/             the model in the got layout (safetensors + tokenizer), usable by convert/eval
        config.yaml         the resolved run config
    latest                  the tag of the newest complete checkpoint (replaced atomically)

A save is written under a temporary tag and renamed only once every rank has finished, then `latest` is
replaced; a crash at any point leaves the previous checkpoint as the one `resume=auto` finds.
"""

import os
import random
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from got.model.convert import Checkpoint, save_checkpoint, validate
from got.tokenizer import GOTTokenizer
from got.train.lora import merged_state_dict

TMP_PREFIX = ".tmp-"


def tag_for(step: int) -> str:
    return f"step{step:08d}"


def rng_state() -> dict:
    state = {
        "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
        "numpy": np.random.get_state()[1].tolist() + list(np.random.get_state()[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[-2], tuple(py[:-2]), py[-1]))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np.array(np_state[:624], dtype=np.uint32), *np_state[624:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def latest_tag(root: Path) -> str | None:
    """The newest complete checkpoint's tag, cleaning away what an interrupted save left behind."""
    if not root.is_dir():
        return None
    if dist.get_rank() == 0:
        for partial in root.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(partial, ignore_errors=True)
    dist.barrier()
    pointer = root / "latest"
    if not pointer.is_file():
        return None
    tag = pointer.read_text().strip()
    if not (root / tag).is_dir():
        raise FileNotFoundError(f"{pointer} names {tag}, which is missing from {root}")
    return tag


def consolidated_state(engine) -> dict[str, torch.Tensor] | None:
    """The full model state on rank 0 (gathered from ZeRO-3 partitions, LoRA merged); None elsewhere."""
    module = engine.module
    gathered = nullcontext()
    if engine.zero_optimization_stage() == 3:
        import deepspeed

        gathered = deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)
    with gathered:
        if dist.get_rank() != 0:
            return None
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return merged_state_dict(module, state)


def export_model(engine, tokenizer: GOTTokenizer, out: Path) -> None:
    """Write the model in the got layout (collective: every rank calls it; rank 0 writes)."""
    state = consolidated_state(engine)
    if state is not None:
        model = engine.module
        save_checkpoint(Checkpoint(model.cfg, validate(model.cfg, state, "trained model"), tokenizer), out, "got")


def save(engine, root: Path, step: int, rank_state: dict, tokenizer: GOTTokenizer, config_yaml: str, keep_last: int) -> Path:
    """Collective: a complete checkpoint for `step` under root, or (after a crash) nothing new at all."""
    tag, rank = tag_for(step), dist.get_rank()
    tmp = root / f"{TMP_PREFIX}{tag}"
    engine.save_checkpoint(str(root), tag=tmp.name, save_latest=False)
    torch.save(rank_state, tmp / f"rank{rank:03d}.pt")
    export_model(engine, tokenizer, tmp / "export")
    dist.barrier()
    if rank == 0:
        (tmp / "config.yaml").write_text(config_yaml)
        final = root / tag
        if final.exists():  # a resumed run saving the same step again
            shutil.rmtree(final)
        os.replace(tmp, final)
        pointer = root / f"{TMP_PREFIX}latest"
        pointer.write_text(tag)
        os.replace(pointer, root / "latest")
        for old in sorted(p for p in root.glob("step*") if p.is_dir())[:-keep_last]:
            shutil.rmtree(old)
    dist.barrier()
    return root / tag


def load(engine, root: Path, tag: str) -> dict:
    """Restore engine state and return this rank's saved state (data position, RNG, counters)."""
    rank_file = root / tag / f"rank{dist.get_rank():03d}.pt"
    if not rank_file.is_file():
        saved = len(list((root / tag).glob("rank*.pt")))
        raise RuntimeError(f"{root / tag} was saved by {saved} ranks; this run has {dist.get_world_size()} "
                           "(exact resume needs the same world size)")
    path, _ = engine.load_checkpoint(str(root), tag=tag)
    if path is None:
        raise RuntimeError(f"DeepSpeed could not load the checkpoint {root / tag}")
    state = torch.load(rank_file, weights_only=True)
    set_rng_state(state["rng"])
    return state
