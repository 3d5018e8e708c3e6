"""Read a config file that is not a Hydra run config (data/render.py --config, bench/learning.py --config): YAML or
JSON, with an optional `defaults:` list.

    defaults: [learn_faces]            # learn_faces.yaml beside this file, merged under what this file says
    defaults: [demo_lines@finegrained] # demo_lines.yaml merged under this file's `finegrained:` key

As in Hydra's defaults lists, later entries override earlier ones and the file itself overrides them all; mappings
merge key by key, anything else (lists, numbers, strings) is replaced whole. So a family of configs (the demo's
lines, glyphs and markdown; the learning bench's glyphs, letters, words and lines) states its shared faces, sizes
and degradation once, and each file says only what differs; a bench variant says only the levers it moves.
"""

from __future__ import annotations

import json
from pathlib import Path


def load_config(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The file's mapping with its defaults merged in; a missing, unreadable or malformed file (or default, or a
    cycle of defaults) raises ValueError saying which."""
    path = Path(path)
    where = " <- ".join(str(p) for p in (path, *reversed(_chain)))
    if path.resolve() in _chain:
        raise ValueError(f"--config {where}: defaults form a cycle")
    config = _read(path, where)
    defaults = config.pop("defaults", [])
    if not (isinstance(defaults, list) and all(isinstance(d, str) and d for d in defaults)):
        raise ValueError(f"--config {where}: defaults must be a list of config names, got {defaults!r}")
    merged: dict = {}
    for entry in defaults:
        name, _, package = entry.partition("@")
        parent = path.parent / (name if Path(name).suffix else f"{name}.yaml")
        loaded = load_config(parent, (*_chain, path.resolve()))
        for key in reversed(package.split(".") if package else []):
            loaded = {key: loaded}
        merged = merge(merged, loaded)
    return merge(merged, config)


def merge(base: dict, override: dict) -> dict:
    """`override` over `base`: mappings merge recursively, other values replace."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def _read(path: Path, where: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            from omegaconf import OmegaConf

            config = OmegaConf.to_container(OmegaConf.create(text))
        else:
            config = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"--config {where}: {e}") from None
    except Exception as e:  # omegaconf's YAML errors have no common base beyond Exception
        raise ValueError(f"--config {where}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ValueError(f"--config {where} holds a {type(config).__name__}, not a mapping")
    return config
