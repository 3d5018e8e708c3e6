"""Synthetic data engines for every GOT data type (docs/render.md).

Each renderer is two steps: `sample_<type>(rng: random.Random, cfg: <Type>Config) -> <Type>Content` makes every
random choice (texts, values, fonts, sizes, positions, effects), and `draw_<type>(content) -> Sample` draws it and
writes its target with no randomness at all. `render_<type>(rng, cfg)` does both. RENDERERS maps the type name to
its Renderer (sample, draw, config class); `sample_rng(seed, index)` gives sample `index` of a dataset its own
generator, so any subset of indices renders the same wherever it runs.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from got.data.sample import Sample
from got.render import (
    chart,
    document,
    finegrained,
    formula,
    geometry,
    line,
    molecule,
    multicrop,
    multipage,
    music,
    scene,
    table,
)
from got.render.engines import RenderError


class Renderer(NamedTuple):
    sample: Callable[[random.Random, Any], Any]  # (rng, config) -> content
    draw: Callable[[Any], Sample]  # content -> sample, deterministic
    config: type


RENDERERS: dict[str, Renderer] = {
    "document": Renderer(document.sample_document, document.draw_document, document.DocumentConfig),
    "line": Renderer(line.sample_line, line.draw_line, line.LineConfig),
    "scene": Renderer(scene.sample_scene, scene.draw_scene, scene.SceneConfig),
    "formula": Renderer(formula.sample_formula, formula.draw_formula, formula.FormulaConfig),
    "table": Renderer(table.sample_table, table.draw_table, table.TableConfig),
    "molecule": Renderer(molecule.sample_molecule, molecule.draw_molecule, molecule.MoleculeConfig),
    "music": Renderer(music.sample_music, music.draw_music, music.MusicConfig),
    "geometry": Renderer(geometry.sample_geometry, geometry.draw_geometry, geometry.GeometryConfig),
    "chart": Renderer(chart.sample_chart, chart.draw_chart, chart.ChartConfig),
    "finegrained": Renderer(
        finegrained.sample_finegrained, finegrained.draw_finegrained, finegrained.FinegrainedConfig
    ),
    "multipage": Renderer(multipage.sample_multipage, multipage.draw_multipage, multipage.MultipageConfig),
    "multicrop": Renderer(multicrop.sample_multicrop, multicrop.draw_multicrop, multicrop.MulticropConfig),
}

__all__ = ["RENDERERS", "RenderError", "Renderer", "build_config", "render", "sample_rng"]


def sample_rng(seed: int, index: int) -> random.Random:
    """Sample `index`'s generator: a string seed is hashed with SHA-512, the same in every process and run."""
    return random.Random(f"got-render/{seed}/{index}")


def build_config(cls: type, overrides: dict | None = None, where: str = "", base=None):
    """cls's defaults (or base) with overrides applied: nested dataclass fields take their own overrides on top of
    their defaults (finegrained's {document: {langs: [en]}} keeps its smaller pages), lists become tuples. An
    unknown key raises a ValueError that names it and where it is (e.g. ChartConfig.degrade)."""
    overrides, where, base = overrides or {}, where or cls.__name__, cls() if base is None else base
    fields = {f.name for f in dataclasses.fields(cls)}
    if unknown := set(overrides) - fields:
        raise ValueError(f"{where} has no field(s) {sorted(unknown)}; it has {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in overrides.items():
        if dataclasses.is_dataclass(hints[name]) and isinstance(value, dict):
            value = build_config(hints[name], value, f"{where}.{name}", getattr(base, name))
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[name] = value
    return dataclasses.replace(base, **kwargs)


_warm: set[str] = set()


def render(name: str, rng: random.Random, cfg: Any = None) -> Sample:
    """Render one sample of a type, with its default config unless cfg is given."""
    if name not in RENDERERS:
        raise ValueError(f"unknown render type {name!r}; known: {', '.join(RENDERERS)}")
    r = RENDERERS[name]
    sample = r.draw(r.sample(rng, cfg if cfg is not None else r.config()))
    if name not in _warm:
        # The first sample of a type fills the long-lived caches (corpora, fonts, matplotlib's font and style
        # tables). Freezing them takes them out of the cyclic GC's full collections, which otherwise rescan them
        # all every few hundred samples (10-15% of a chart's time).
        _warm.add(name)
        gc.collect()
        gc.freeze()
    return sample
