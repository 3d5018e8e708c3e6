"""Molecules: real structures (RDKit's own NCI sample, Data/NCI/first_5K.smi), sometimes mutated by an atom swap or
an added group, drawn by RDKit with varied size, line width, font, rotation and palette. Target: RDKit's canonical
isomeric SMILES of the drawn molecule.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image
from rdkit import Chem, RDConfig, RDLogger
from rdkit.Chem.Draw import rdMolDraw2D

from got.data.sample import Sample
from got.render import effects, engines

RDLogger.DisableLog("rdApp.*")  # rejected mutations are expected; RDKit would print each one


@dataclass
class MoleculeConfig:
    smiles_file: str = ""  # one SMILES per line (first column); "" = RDKit's Data/NCI/first_5K.smi
    max_heavy_atoms: int = 48  # larger molecules draw too small to read
    mutate_p: float = 0.3  # swap an atom's element or add a methyl/hydroxyl/halogen: new molecules, still valid
    swap_p: float = 0.5  # a mutation swaps an element (else it adds a group where the atom has a hydrogen)
    size: tuple[int, int] = (320, 768)  # canvas side, px
    aspect: tuple[float, float] = (0.7, 1.4)
    bond_width: tuple[float, float] = (1.0, 3.0)
    font_scale: tuple[float, float] = (0.7, 1.3)
    rotate: tuple[float, float] = (0.0, 360.0)
    padding: tuple[float, float] = (0.03, 0.15)  # fraction of the canvas
    bw_p: float = 0.4  # black-and-white atom palette
    paper: effects.PaperConfig = field(default_factory=lambda: effects.PaperConfig(plain_p=0.6))
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(rotate=0.0, warp=0.01))


@lru_cache(maxsize=4)
def smiles_pool(path: str, max_heavy_atoms: int) -> tuple[str, ...]:
    path = path or str(Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi")
    out = []
    for line in Path(path).read_text().split("\n"):
        mol = Chem.MolFromSmiles(line.split()[0]) if line.strip() else None
        if mol is not None and 0 < mol.GetNumHeavyAtoms() <= max_heavy_atoms:
            out.append(line.split()[0])
    if not out:
        raise RuntimeError(f"no usable SMILES in {path}")
    return tuple(out)


def _mutate(rng: random.Random, mol: Chem.Mol, swap_p: float) -> Chem.Mol:
    """A small edit that keeps a valid molecule, or the molecule unchanged if the edit fails to sanitise."""
    rw = Chem.RWMol(mol)
    atom = rw.GetAtomWithIdx(rng.randrange(rw.GetNumAtoms()))
    if rng.random() < swap_p:
        atom.SetAtomicNum(rng.choice([6, 7, 8, 16]))  # C, N, O, S
        atom.SetNoImplicit(False)
        atom.SetNumExplicitHs(0)
    elif atom.GetTotalNumHs() > 0:
        new = rw.AddAtom(Chem.Atom(rng.choice([6, 8, 9, 17, 35])))  # methyl, hydroxyl, F, Cl, Br
        rw.AddBond(atom.GetIdx(), new, Chem.BondType.SINGLE)
    try:
        Chem.SanitizeMol(rw)
        return rw.GetMol()
    except Exception:  # noqa: BLE001 - RDKit raises several kinds for invalid valences
        return mol


@dataclass
class MoleculeContent:
    smiles: str  # canonical: the target, and what is drawn
    size: tuple[int, int]  # px
    bond_width: float
    font_size: float  # RDKit's baseFontSize
    rotate: float  # degrees
    padding: float
    bw: bool  # black-and-white atom palette
    paper: effects.Paper | None
    degradation: effects.Degradation | None


def sample_molecule(rng: random.Random, cfg: MoleculeConfig) -> MoleculeContent:
    mol = Chem.MolFromSmiles(rng.choice(smiles_pool(cfg.smiles_file, cfg.max_heavy_atoms)))
    if rng.random() < cfg.mutate_p:
        mol = _mutate(rng, mol, cfg.swap_p)
    w = rng.randint(*cfg.size)
    size = (w, int(w * rng.uniform(*cfg.aspect)))
    bond_width, font_size = rng.uniform(*cfg.bond_width), 0.6 * rng.uniform(*cfg.font_scale)  # 0.6: RDKit's default
    rotate, padding, bw = rng.uniform(*cfg.rotate), rng.uniform(*cfg.padding), rng.random() < cfg.bw_p
    paper, degradation = effects.sample_paper(rng, cfg.paper), effects.sample_degradation(rng, cfg.degrade)
    return MoleculeContent(Chem.MolToSmiles(mol), size, bond_width, font_size, rotate, padding, bw, paper, degradation)


def draw_molecule(c: MoleculeContent) -> Sample:
    mol = Chem.MolFromSmiles(c.smiles)
    if mol is None:
        raise engines.RenderError(f"SMILES does not round-trip: {c.smiles}")
    drawer = rdMolDraw2D.MolDraw2DCairo(*c.size)
    opts = drawer.drawOptions()
    opts.bondLineWidth, opts.baseFontSize, opts.rotate, opts.padding = c.bond_width, c.font_size, c.rotate, c.padding
    opts.clearBackground = False
    if c.bw:
        opts.useBWAtomPalette()
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
    drawer.FinishDrawing()
    drawing = Image.open(io.BytesIO(drawer.GetDrawingText())).convert("RGBA")
    canvas = effects.draw_paper(c.size, c.paper)
    canvas.paste(drawing, (0, 0), drawing)
    image, _ = effects.degrade(canvas, c.degradation)
    return Sample([image], c.smiles, task="format", lang="en", source="render/molecule")


def render_molecule(rng: random.Random, cfg: MoleculeConfig) -> Sample:
    return draw_molecule(sample_molecule(rng, cfg))
