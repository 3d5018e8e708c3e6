"""Synthetic data engines for every GOT data type (docs/render.md).

Each renderer is a pure function `render_<type>(rng: random.Random, cfg: <Type>Config) -> Sample`, deterministic
for the state of rng. RENDERERS maps the type name to (function, config class); `sample_rng(seed, index)` gives
sample `index` of a dataset its own generator, so any subset of indices renders the same wherever it runs.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import typing
from typing import Any, Callable

from got.data.sample import Sample
from got.render.chart import ChartConfig, render_chart
from got.render.document import DocumentConfig, render_document
from got.render.engines import RenderError
from got.render.finegrained import FinegrainedConfig, render_finegrained
from got.render.formula import FormulaConfig, render_formula
from got.render.geometry import GeometryConfig, render_geometry
from got.render.line import LineConfig, render_line
from got.render.molecule import MoleculeConfig, render_molecule
from got.render.multicrop import MulticropConfig, render_multicrop
from got.render.multipage import MultipageConfig, render_multipage
from got.render.music import MusicConfig, render_music
from got.render.scene import SceneConfig, render_scene
from got.render.table import TableConfig, render_table

RENDERERS: dict[str, tuple[Callable[[random.Random, Any], Sample], type]] = {
    "document": (render_document, DocumentConfig),
    "line": (render_line, LineConfig),
    "scene": (render_scene, SceneConfig),
    "formula": (render_formula, FormulaConfig),
    "table": (render_table, TableConfig),
    "molecule": (render_molecule, MoleculeConfig),
    "music": (render_music, MusicConfig),
    "geometry": (render_geometry, GeometryConfig),
    "chart": (render_chart, ChartConfig),
    "finegrained": (render_finegrained, FinegrainedConfig),
    "multipage": (render_multipage, MultipageConfig),
    "multicrop": (render_multicrop, MulticropConfig),
}

__all__ = ["RENDERERS", "RenderError", "build_config", "render", "sample_rng"]


def sample_rng(seed: int, index: int) -> random.Random:
    """Sample `index`'s generator: a string seed is hashed with SHA-512, the same in every process and run."""
    return random.Random(f"got-render/{seed}/{index}")


def build_config(cls: type, overrides: dict | None = None):
    """cls(**overrides), recursing into nested dataclass fields and turning lists into tuples; unknown keys raise."""
    overrides = overrides or {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(overrides) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}; it has {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in overrides.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = build_config(hint, value)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[name] = value
    return cls(**kwargs)


_warm: set[str] = set()


def render(name: str, rng: random.Random, cfg: Any = None) -> Sample:
    """Render one sample of a type, with its default config unless cfg is given."""
    if name not in RENDERERS:
        raise ValueError(f"unknown render type {name!r}; known: {', '.join(RENDERERS)}")
    fn, cls = RENDERERS[name]
    sample = fn(rng, cfg if cfg is not None else cls())
    if name not in _warm:
        # The first sample of a type fills the long-lived caches (corpora, fonts, matplotlib's font and style
        # tables). Freezing them takes them out of the cyclic GC's full collections, which otherwise rescan them
        # all every few hundred samples (10-15% of a chart's time).
        _warm.add(name)
        gc.collect()
        gc.freeze()
    return sample
