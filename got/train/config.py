"""The schema of a training run: every knob of configs/train.yaml and its experiments, validated by Hydra against
these dataclasses (an unknown key or a wrong type fails at start, with the key named). The model's own config
(what the model is, saved with the weights) is got.model.got.GOTConfig; how a run computes it is ComputeConfig.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from got.data.pipeline import DataConfig
from got.model.got import ComputeConfig, GOTConfig
from got.train.grpo import RLConfig
from got.train.logging import LogConfig
from got.train.lora import LoraConfig
from got.train.optim import OptimConfig
from got.train.periodic_eval import PeriodicEvalConfig
from got.train.stages import FreezeConfig, InitConfig


@dataclass
class DeepSpeedConfig:
    zero_stage: int = 2  # 2 by default (0.56B of model state fits); 3 partitions the parameters too
    bf16: bool = True  # never fp16: GOT/Vary users hit overflow
    reduce_bucket_size: int = 200_000_000
    allgather_bucket_size: int = 200_000_000
    overlap_comm: bool = True
    contiguous_gradients: bool = True
    stage3_prefetch_bucket_size: int = 50_000_000
    stage3_param_persistence_threshold: int = 100_000
    stage3_max_live_parameters: int = 1_000_000_000


@dataclass
class LoopConfig:
    max_steps: int = 1000  # optimizer steps
    grad_accum: int = 1
    seed: int = 0
    out_dir: str = "runs/default"
    resume: str = "auto"  # auto (latest checkpoint in out_dir, if any) | never
    save_every: int = 500
    keep_last: int = 2
    max_nonfinite: int = 5  # consecutive NaN/inf micro-batches before the run stops
    trust_checkpoint_pickle: bool = False  # resume from checkpoints holding arbitrary pickles (they can run code)
    device: str = "auto"  # auto | cpu | cuda


@dataclass
class TrainConfig:
    stage: int = 1  # 1-3: supervised (DESIGN §6); 4: reinforcement learning with verifiable rewards (GRPO)
    model: GOTConfig = field(default_factory=GOTConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    init: InitConfig = field(default_factory=InitConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    eval: PeriodicEvalConfig = field(default_factory=PeriodicEvalConfig)
    rl: RLConfig = field(default_factory=RLConfig)  # stage 4 only
    log: LogConfig = field(default_factory=LogConfig)


ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def deepspeed_config(cfg: TrainConfig) -> dict:
    ds = cfg.deepspeed
    zero = {
        "stage": ds.zero_stage,
        "reduce_bucket_size": ds.reduce_bucket_size,
        "allgather_bucket_size": ds.allgather_bucket_size,
        "overlap_comm": ds.overlap_comm,
        "contiguous_gradients": ds.contiguous_gradients,
    }
    if ds.zero_stage == 3:
        zero.update(
            stage3_prefetch_bucket_size=ds.stage3_prefetch_bucket_size,
            stage3_param_persistence_threshold=ds.stage3_param_persistence_threshold,
            stage3_max_live_parameters=ds.stage3_max_live_parameters,
        )
        del zero["allgather_bucket_size"]
    return {
        "train_micro_batch_size_per_gpu": cfg.data.batch_rows,  # packed rows per rank per micro-batch
        "gradient_accumulation_steps": cfg.train.grad_accum,
        "gradient_clipping": cfg.optim.grad_clip,
        "bf16": {"enabled": ds.bf16},
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,  # torch AdamW, fused on GPU
        "steps_per_print": 10**9,  # our logger reports progress
        "wall_clock_breakdown": False,
    }
