"""Formulas: random LaTeX from a small grammar (fractions, roots, scripts, big operators, accents, matrices, cases,
aligned) plus classic formulas, typeset by MathJax 3. Target: the LaTeX inside `\\[ \\]` (display) or `\\( \\)`
(inline style), exactly as typeset.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from got.data.sample import Sample
from got.render import effects, engines

VARS = list("abcdefghkmnpqrstuvwxyz") + ["x", "y", "z", "t", "n"]
GREEK = r"\alpha \beta \gamma \delta \epsilon \theta \lambda \mu \nu \pi \rho \sigma \tau \phi \psi \omega \Gamma \Delta \Theta \Lambda \Sigma \Phi \Omega".split()  # fmt: skip
RELATIONS = r"= = = < > \leq \geq \neq \approx \equiv \sim \propto".split()
BINOPS = r"+ + - - \cdot \times \pm".split()
FUNCS = r"\sin \cos \tan \log \ln \exp".split()
ACCENTS = r"\hat \bar \vec \tilde \dot \mathbf".split()
CLASSICS = (
    r"E = mc^{2}", r"x = \frac{-b \pm \sqrt{b^{2} - 4ac}}{2a}", r"e^{i \pi} + 1 = 0",
    r"\int_{-\infty}^{\infty} e^{-x^{2}} \, dx = \sqrt{\pi}", r"\sum_{n=1}^{\infty} \frac{1}{n^{2}} = \frac{\pi^{2}}{6}",
    r"\nabla \cdot \mathbf{E} = \frac{\rho}{\varepsilon_{0}}", r"a^{2} + b^{2} = c^{2}",
    r"f(x) = \frac{1}{\sigma \sqrt{2 \pi}} e^{-\frac{(x - \mu)^{2}}{2 \sigma^{2}}}",
    r"\frac{\partial u}{\partial t} = \alpha \nabla^{2} u", r"P(A \mid B) = \frac{P(B \mid A) P(A)}{P(B)}",
    r"\lim_{x \to 0} \frac{\sin x}{x} = 1", r"(a + b)^{n} = \sum_{k=0}^{n} \binom{n}{k} a^{k} b^{n-k}",
    r"i \hbar \frac{\partial}{\partial t} \Psi = \hat{H} \Psi", r"\det(A - \lambda I) = 0",
    r"F = G \frac{m_{1} m_{2}}{r^{2}}", r"\oint_{C} \mathbf{F} \cdot d\mathbf{r} = 0",
)  # fmt: skip


def _atom(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return rng.choice(VARS)
    if r < 0.7:
        return rng.choice(GREEK)
    return str(rng.randint(0, 20)) if rng.random() < 0.8 else f"{rng.uniform(0, 10):.{rng.randint(1, 2)}f}"


def _term(rng: random.Random, depth: int) -> str:
    r = rng.random()
    if depth <= 0 or r < 0.3:
        return _atom(rng)
    if r < 0.45:
        return f"{_atom(rng)}^{{{_expr(rng, depth - 1, 1)}}}"
    if r < 0.55:
        return f"{rng.choice(VARS)}_{{{rng.choice(VARS + ['0', '1', 'i', 'j'])}}}"
    if r < 0.67:
        return rf"\frac{{{_expr(rng, depth - 1)}}}{{{_expr(rng, depth - 1)}}}"
    if r < 0.74:
        index = f"[{rng.randint(3, 5)}]" if rng.random() < 0.25 else ""
        return rf"\sqrt{index}{{{_expr(rng, depth - 1)}}}"
    if r < 0.82:
        return rf"{rng.choice(FUNCS)} {_atom(rng)}" if rng.random() < 0.5 else rf"{rng.choice(FUNCS)}({_expr(rng, depth - 1)})"  # fmt: skip
    if r < 0.9:
        left, right = rng.choice([("(", ")"), ("[", "]"), ("|", "|")])
        return rf"\left{left} {_expr(rng, depth - 1)} \right{right}"
    if r < 0.95:
        return rf"{rng.choice(ACCENTS)}{{{rng.choice(VARS)}}}"
    i = rng.choice("ijk")
    op = rng.choice([rf"\sum_{{{i}=1}}^{{n}}", rf"\prod_{{{i}=0}}^{{N}}", r"\int_{0}^{1}", r"\lim_{n \to \infty}"])
    body = _expr(rng, depth - 1)
    return f"{op} {body}" + (r" \, dx" if op.startswith(r"\int") else "")


def _expr(rng: random.Random, depth: int, max_terms: int = 3) -> str:
    out = _term(rng, depth)
    for _ in range(rng.randint(0, max_terms - 1)):
        out += f" {rng.choice(BINOPS)} {_term(rng, depth)}"
    return out


def _environment(rng: random.Random, depth: int) -> str:
    newline = r" \\ "
    kind = rng.choice(["pmatrix", "bmatrix", "vmatrix", "cases", "aligned"])
    if kind == "cases":
        rows = [rf"{_expr(rng, depth)} & \text{{if }} {rng.choice(VARS)} {rng.choice(RELATIONS[3:7])} {_atom(rng)}" for _ in range(rng.randint(2, 3))]  # fmt: skip
        return rf"{rng.choice(['f(x)', 'g(t)', '|x|'])} = \begin{{cases}} {newline.join(rows)} \end{{cases}}"
    if kind == "aligned":
        rows = [rf"{_expr(rng, depth)} &= {_expr(rng, depth)}" for _ in range(rng.randint(2, 3))]
        return rf"\begin{{aligned}} {newline.join(rows)} \end{{aligned}}"
    n, m = rng.randint(2, 3), rng.randint(2, 3)
    rows = [" & ".join(_term(rng, max(depth - 1, 0)) for _ in range(m)) for _ in range(n)]
    return rf"{rng.choice(['A', 'M', 'R'])} = \begin{{{kind}}} {newline.join(rows)} \end{{{kind}}}"


def random_latex(rng: random.Random, *, depth: int = 2, env_p: float = 0.15, classic_p: float = 0.1) -> str:
    """One formula. Tokens are space-separated and groups braced, the way a tidy corpus writes them."""
    r = rng.random()
    if r < classic_p:
        return rng.choice(CLASSICS)
    if r < classic_p + env_p:
        return _environment(rng, depth)
    lhs = _expr(rng, depth)
    return f"{lhs} {rng.choice(RELATIONS)} {_expr(rng, depth)}" if rng.random() < 0.75 else lhs


def inline_latex(rng: random.Random) -> str:
    """A short formula that sits in a line of text."""
    return random_latex(rng, depth=1, env_p=0.0, classic_p=0.05)


def wrap(latex: str, display: bool) -> str:
    return rf"\[ {latex} \]" if display else rf"\( {latex} \)"


@dataclass
class FormulaConfig:
    display_p: float = 0.75  # display style (\[ \]) vs inline style (\( \))
    size: tuple[int, int] = (26, 60)  # px per em
    depth: tuple[int, int] = (1, 3)  # grammar nesting
    env_p: float = 0.15
    classic_p: float = 0.1
    pad: tuple[float, float] = (0.3, 2.0)  # margin around the formula, in ems
    ink: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (30, 30, 30), (20, 30, 100))
    paper: effects.PaperConfig = field(default_factory=effects.PaperConfig)
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(rotate=1.0, warp=0.01))


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def render_formula(rng: random.Random, cfg: FormulaConfig) -> Sample:
    latex = random_latex(rng, depth=rng.randint(*cfg.depth), env_p=cfg.env_p, classic_p=cfg.classic_p)
    display = rng.random() < cfg.display_p
    size = rng.randint(*cfg.size)
    ink = rng.choice(cfg.ink)
    math, _ = engines.mathjax(latex, size, display=display, color=hex_color(ink))
    pad = [round(rng.uniform(*cfg.pad) * size) for _ in range(4)]
    canvas = effects.paper(rng, (math.width + pad[0] + pad[2], math.height + pad[1] + pad[3]), cfg.paper)
    canvas.paste(math, (pad[0], pad[1]), math)
    image, _ = effects.degrade(canvas, rng, cfg.degrade)
    return Sample([image], wrap(latex, display), task="format", lang="en", source="render/formula",
                  extra={"size": size})  # fmt: skip

