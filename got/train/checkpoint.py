"""Durable DeepSpeed checkpoints with the data position, RNG states and evaluation state, plus safetensors exports.

Layout of OUT/checkpoints/:
    step00000100/           DeepSpeed's engine state (model, optimizer, scheduler)
        rank000.pt ...      per rank: data-stream position, RNG states, counters, best evaluation so far
        export/             the model in the got layout (safetensors + tokenizer), usable by convert/eval
        config.yaml         the resolved run config
        COMPLETE            written last: the checkpoint is whole
    latest                  the tag of the newest complete checkpoint (replaced atomically)

A save is written under a temporary name, its files and directories fsync'd, `COMPLETE` written, and only then
renamed into place; `latest` moves after that, and older checkpoints are deleted last. A crash at any point
leaves the previous complete checkpoint, and a torn or dangling `latest` falls back to the newest complete one.
Directories the user reads (OUT/final, OUT/best) are replaced the same way: written aside, then renamed in.

Resume never unpickles arbitrary objects: DeepSpeed's files are read with torch.load(weights_only=True) and an
allow-list of the few DeepSpeed types its optimizer state holds (SafeCheckpointEngine), our rank files with
weights_only=True too, so a copied or shared run directory cannot run code.
"""

import json
import logging
import os
import pickle
import random
import shutil
import signal
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine

from got.model.checkpoint import Checkpoint, CheckpointError, save_checkpoint, validate
from got.model.got import GOTModel
from got.tokenizer import GOTTokenizer
from got.train.lora import merged_state_dict

log = logging.getLogger("got.train")
TMP_PREFIX = ".tmp-"
COMPLETE = "COMPLETE"
CRASH_ENV = "GOT_CRASH_DURING_SAVE"  # tests: "POINT:STEP" SIGKILLs rank 0 at that point of that step's save


def _deepspeed_safe_globals() -> list:
    """The DeepSpeed objects its checkpoints pickle beside tensors (the loss scaler, the ZeRO stage, fragment
    addresses): nothing else may be unpickled on resume."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


def safe_load(path: str | Path, map_location=None, trust_pickle: bool = False):
    """torch.load with weights_only=True and the DeepSpeed allow-list; a file that needs more is refused with a
    message naming the override, unless trust_pickle."""
    if trust_pickle:
        return torch.load(path, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(_deepspeed_safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        what = str(e).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"{path} holds pickled objects beyond tensors and DeepSpeed's settings ({what}); "
            "they are not loaded, since unpickling can run code. If you trust this run directory, "
            "resume with train.trust_checkpoint_pickle=true"
        ) from None
    except (RuntimeError, EOFError, OSError) as e:  # a truncated or corrupt file
        raise CheckpointError(f"{path} is not a readable checkpoint file ({str(e).splitlines()[0][:200]})") from None


class SafeCheckpointEngine(TorchCheckpointEngine):
    """DeepSpeed's torch checkpoint engine, loading through safe_load (its own load unpickles anything)."""

    def __init__(self, config_params, trust_pickle: bool = False):
        super().__init__(config_params)
        self.trust_pickle = trust_pickle

    def load(self, path: str, map_location=None):
        return safe_load(path, map_location, self.trust_pickle)


def tag_for(step: int) -> str:
    return f"step{step:08d}"


def crash_point(name: str, step: int) -> None:
    """Tests kill a run in the middle of a save: GOT_CRASH_DURING_SAVE=name:step SIGKILLs rank 0 here."""
    if os.environ.get(CRASH_ENV) == f"{name}:{step}" and dist.get_rank() == 0:
        os.kill(os.getpid(), signal.SIGKILL)


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


# --- durability --------------------------------------------------------------------------------------------------


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's entry list: the names renamed into it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(directory) / name)
        fsync_path(Path(directory))


def write_durably(path: Path, text: str) -> None:
    """Replace a small file atomically: written aside, fsync'd, renamed over, the directory fsync'd."""
    tmp = path.with_name(TMP_PREFIX + path.name)
    tmp.write_text(text)
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def replace_dir(tmp: Path, final: Path) -> None:
    """Put a complete, fsync'd directory in place of `final`: the old one stays until the new one is there."""
    fsync_tree(tmp)
    old = final.with_name(f"{TMP_PREFIX}old-{final.name}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_path(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def complete(path: Path) -> bool:
    return (path / COMPLETE).is_file()


def latest_tag(root: Path) -> str | None:
    """The newest complete checkpoint's tag, cleaning away what an interrupted save left behind. A torn or
    dangling `latest` falls back, with a warning, to the newest complete checkpoint."""
    if not root.is_dir():
        return None
    if dist.get_rank() == 0:
        for partial in root.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
    dist.barrier()
    steps = sorted(p for p in root.glob("step*") if p.is_dir())
    whole = [p.name for p in steps if complete(p)]
    pointer = root / "latest"
    named = pointer.read_text(errors="replace").strip() if pointer.is_file() else None
    if named in whole:
        return named
    if dist.get_rank() == 0 and (whole or steps):
        found = f"resuming from {whole[-1]} instead" if whole else "starting over (none of them is complete)"
        log.warning("%s names %r, which is no complete checkpoint: %s", pointer, named, found)
    return whole[-1] if whole else None


# --- exports and saves -------------------------------------------------------------------------------------------


def consolidated_state(engine, everywhere: bool = False, device: str = "cpu") -> dict[str, torch.Tensor] | None:
    """The full model state (gathered from ZeRO-3 partitions, LoRA merged) on rank 0, or on every rank; None
    elsewhere. Collective under ZeRO-3: every rank calls it."""
    module = engine.module
    gathered = nullcontext()
    if engine.zero_optimization_stage() == 3:
        import deepspeed

        gathered = deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)
    with gathered:
        if dist.get_rank() != 0 and not everywhere:
            return None
        state = {k: v.detach().to(device, copy=True) for k, v in module.state_dict().items()}
        return merged_state_dict(module, state)


def generation_model(engine, everywhere: bool = False) -> GOTModel | None:
    """The model to generate with, outside DeepSpeed's hooks (collective). Under ZeRO 0-2 the module itself: its
    parameters are whole on every rank. Under ZeRO-3 its forward hooks gather each submodule's parameters with a
    collective, so ranks that decode different numbers of steps would deadlock: a plain copy is built from the
    gathered state instead, on rank 0 (or on every rank); None elsewhere."""
    module = engine.module
    if engine.zero_optimization_stage() != 3:
        return module if everywhere or dist.get_rank() == 0 else None
    device = module.projector.linear.weight.device
    state = consolidated_state(engine, everywhere, str(device))
    if state is None:
        return None
    copy = GOTModel(module.cfg, module.compute).to(device)
    copy.load_state_dict(state, strict=False)  # a tied lm_head is re-tied below
    copy.decoder.tie_weights()
    return copy.eval()


def export_model(engine, tokenizer: GOTTokenizer, out: Path, *, replace: bool = True) -> None:
    """Write the model in the got layout (collective: every rank calls it; rank 0 writes). With replace, `out` is
    written aside and renamed into place, so a reader never sees half a model."""
    state = consolidated_state(engine)
    if state is not None:
        model = engine.module
        ckpt = Checkpoint(model.cfg, validate(model.cfg, state, "trained model"), tokenizer)
        target = out.with_name(f"{TMP_PREFIX}{out.name}") if replace else out
        shutil.rmtree(target, ignore_errors=True)
        save_checkpoint(ckpt, target, "got")
        if replace:
            replace_dir(target, out)


def save(
    engine, root: Path, step: int, rank_state: dict, tokenizer: GOTTokenizer, config_yaml: str, keep_last: int
) -> Path:
    """Collective: a complete, durable checkpoint for `step` under root, or (after a crash) nothing new at all."""
    tag, rank = tag_for(step), dist.get_rank()
    tmp = root / f"{TMP_PREFIX}{tag}"
    engine.save_checkpoint(str(root), tag=tmp.name, save_latest=False)
    crash_point("engine_saved", step)
    torch.save(rank_state, tmp / f"rank{rank:03d}.pt")
    export_model(engine, tokenizer, tmp / "export", replace=False)
    crash_point("exported", step)
    dist.barrier()
    if rank == 0:
        (tmp / "config.yaml").write_text(config_yaml)
        (tmp / COMPLETE).write_text(json.dumps({"step": step, "world_size": dist.get_world_size()}))
        replace_dir(tmp, root / tag)  # a resumed run saving the same step again replaces it
        crash_point("renamed", step)
        write_durably(root / "latest", tag)
        crash_point("latest_written", step)
        others = sorted(p for p in root.glob("step*") if p.is_dir() and p.name != tag)
        for old in others[: max(0, len(others) - (keep_last - 1))]:  # only now that the new one is durable
            shutil.rmtree(old)
    dist.barrier()
    return root / tag


def load(engine, root: Path, tag: str) -> dict:
    """Restore engine state and return this rank's saved state (data position, RNG, counters, evaluation)."""
    marker = json.loads((root / tag / COMPLETE).read_text())
    if marker["world_size"] != dist.get_world_size():
        raise CheckpointError(
            f"{root / tag} was saved by {marker['world_size']} ranks; this run has "
            f"{dist.get_world_size()} (exact resume needs the same world size; start a new "
            "out_dir with init.model_from=<its export/> to continue at another size)"
        )
    path, _ = engine.load_checkpoint(str(root), tag=tag)
    if path is None:
        raise CheckpointError(f"DeepSpeed could not load the checkpoint {root / tag}")
    state = safe_load(root / tag / f"rank{dist.get_rank():03d}.pt")
    set_rng_state(state["rng"])
    return state
