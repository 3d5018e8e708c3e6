"""Model presets: `load_model_config("tiny_qwen")` reads configs/model/tiny_qwen.yaml into a GOTConfig. The
schema of training runs is got.train.config."""

from pathlib import Path

from omegaconf import OmegaConf

from got.model.got import GOTConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def load_model_config(name_or_path: str | Path) -> GOTConfig:
    """A model config by preset name (configs/model/NAME.yaml) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = CONFIG_DIR / "model" / f"{name_or_path}.yaml"
    if not path.is_file():
        presets = sorted(p.stem for p in (CONFIG_DIR / "model").glob("*.yaml"))
        raise FileNotFoundError(f"model config {name_or_path!r} not found (no {path}); presets: {presets}")
    return GOTConfig.from_dict(OmegaConf.to_container(OmegaConf.load(path), resolve=True))
