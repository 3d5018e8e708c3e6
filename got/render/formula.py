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
GREEK = r"\alpha \beta \gamma \delta \epsilon \theta \lambda \mu \nu \pi \rho \sigma \tau \phi \psi \omega \Gamma \Delta \Theta \Lambda \Sigma \Phi \Omega".split()
RELATIONS = r"= = = < > \leq \geq \neq \approx \equiv \sim \propto".split()
BINOPS = r"+ + - - \cdot \times \pm".split()
FUNCS = r"\sin \cos \tan \log \ln \exp".split()
ACCENTS = r"\hat \bar \vec \tilde \dot \mathbf".split()
CLASSICS = (
    r"E = mc^{2}",
    r"x = \frac{-b \pm \sqrt{b^{2} - 4ac}}{2a}",
    r"e^{i \pi} + 1 = 0",
    r"\int_{-\infty}^{\infty} e^{-x^{2}} \, dx = \sqrt{\pi}",
    r"\sum_{n=1}^{\infty} \frac{1}{n^{2}} = \frac{\pi^{2}}{6}",
    r"\nabla \cdot \mathbf{E} = \frac{\rho}{\varepsilon_{0}}",
    r"a^{2} + b^{2} = c^{2}",
    r"f(x) = \frac{1}{\sigma \sqrt{2 \pi}} e^{-\frac{(x - \mu)^{2}}{2 \sigma^{2}}}",
    r"\frac{\partial u}{\partial t} = \alpha \nabla^{2} u",
    r"P(A \mid B) = \frac{P(B \mid A) P(A)}{P(B)}",
    r"\lim_{x \to 0} \frac{\sin x}{x} = 1",
    r"(a + b)^{n} = \sum_{k=0}^{n} \binom{n}{k} a^{k} b^{n-k}",
    r"i \hbar \frac{\partial}{\partial t} \Psi = \hat{H} \Psi",
    r"\det(A - \lambda I) = 0",
    r"F = G \frac{m_{1} m_{2}}{r^{2}}",
    r"\oint_{C} \mathbf{F} \cdot d\mathbf{r} = 0",
)
ENVIRONMENTS = ("pmatrix", "bmatrix", "vmatrix", "cases", "aligned")


@dataclass
class GrammarConfig:
    """The LaTeX grammar's choices: what an atom and a term are, how deep and long expressions grow."""

    depth: tuple[int, int] = (1, 3)  # nesting of terms inside terms
    env_p: float = 0.15  # a matrix, cases or aligned environment (ENVIRONMENTS, picked uniformly)
    classic_p: float = 0.1  # one of the CLASSICS
    equation_p: float = 0.75  # an expression, a relation and another expression (else a lone expression)
    terms: tuple[int, int] = (1, 3)  # terms of an expression joined by binary operators (an exponent is one term)
    atoms: dict[str, float] = field(default_factory=lambda: {"var": 0.5, "greek": 0.2, "number": 0.3})
    integer_p: float = 0.8  # a number atom is an integer (else a decimal)
    integer: tuple[int, int] = (0, 20)
    decimal: tuple[float, float] = (0.0, 10.0)
    decimal_places: tuple[int, int] = (1, 2)
    # a term's kind (at depth 0 always an atom)
    kinds: dict[str, float] = field(
        default_factory=lambda: {
            "atom": 0.3,
            "power": 0.15,
            "subscript": 0.1,
            "fraction": 0.12,
            "root": 0.07,
            "function": 0.08,
            "delimited": 0.08,
            "accent": 0.05,
            "operator": 0.05,
        }
    )
    root_index_p: float = 0.25  # \sqrt[n]{...} rather than \sqrt{...}
    root_index: tuple[int, int] = (3, 5)
    function_atom_p: float = 0.5  # \sin x rather than \sin(...)
    env_rows: tuple[int, int] = (2, 3)  # rows of cases and aligned; rows and columns of a matrix


def _atom(rng: random.Random, g: GrammarConfig) -> str:
    kind = rng.choices(list(g.atoms), list(g.atoms.values()))[0]
    if kind != "number":
        return rng.choice(VARS if kind == "var" else GREEK)
    if rng.random() < g.integer_p:
        return str(rng.randint(*g.integer))
    return f"{rng.uniform(*g.decimal):.{rng.randint(*g.decimal_places)}f}"


def _operator(rng: random.Random, g: GrammarConfig, depth: int) -> str:
    i = rng.choice("ijk")
    op = rng.choice([rf"\sum_{{{i}=1}}^{{n}}", rf"\prod_{{{i}=0}}^{{N}}", r"\int_{0}^{1}", r"\lim_{n \to \infty}"])
    return f"{op} {_expr(rng, g, depth - 1)}" + (r" \, dx" if op.startswith(r"\int") else "")


def _term(rng: random.Random, g: GrammarConfig, depth: int) -> str:
    kind = "atom" if depth <= 0 else rng.choices(list(g.kinds), list(g.kinds.values()))[0]
    if kind == "power":
        return f"{_atom(rng, g)}^{{{_term(rng, g, depth - 1)}}}"
    if kind == "subscript":
        return f"{rng.choice(VARS)}_{{{rng.choice(VARS + ['0', '1', 'i', 'j'])}}}"
    if kind == "fraction":
        return rf"\frac{{{_expr(rng, g, depth - 1)}}}{{{_expr(rng, g, depth - 1)}}}"
    if kind == "root":
        index = f"[{rng.randint(*g.root_index)}]" if rng.random() < g.root_index_p else ""
        return rf"\sqrt{index}{{{_expr(rng, g, depth - 1)}}}"
    if kind == "function":
        f = rng.choice(FUNCS)
        return rf"{f} {_atom(rng, g)}" if rng.random() < g.function_atom_p else rf"{f}({_expr(rng, g, depth - 1)})"
    if kind == "delimited":
        left, right = rng.choice([("(", ")"), ("[", "]"), ("|", "|")])
        return rf"\left{left} {_expr(rng, g, depth - 1)} \right{right}"
    if kind == "accent":
        return rf"{rng.choice(ACCENTS)}{{{rng.choice(VARS)}}}"
    return _operator(rng, g, depth) if kind == "operator" else _atom(rng, g)


def _expr(rng: random.Random, g: GrammarConfig, depth: int) -> str:
    out = _term(rng, g, depth)
    for _ in range(rng.randint(*g.terms) - 1):
        out += f" {rng.choice(BINOPS)} {_term(rng, g, depth)}"
    return out


def _environment(rng: random.Random, g: GrammarConfig, depth: int) -> str:
    newline = r" \\ "
    kind = rng.choice(ENVIRONMENTS)
    if kind == "cases":
        rows = [
            rf"{_expr(rng, g, depth)} & \text{{if }} {rng.choice(VARS)} {rng.choice(RELATIONS[3:7])} {_atom(rng, g)}"
            for _ in range(rng.randint(*g.env_rows))
        ]
        return rf"{rng.choice(['f(x)', 'g(t)', '|x|'])} = \begin{{cases}} {newline.join(rows)} \end{{cases}}"
    if kind == "aligned":
        rows = [rf"{_expr(rng, g, depth)} &= {_expr(rng, g, depth)}" for _ in range(rng.randint(*g.env_rows))]
        return rf"\begin{{aligned}} {newline.join(rows)} \end{{aligned}}"
    n, m = rng.randint(*g.env_rows), rng.randint(*g.env_rows)
    rows = [" & ".join(_term(rng, g, max(depth - 1, 0)) for _ in range(m)) for _ in range(n)]
    return rf"{rng.choice(['A', 'M', 'R'])} = \begin{{{kind}}} {newline.join(rows)} \end{{{kind}}}"


def random_latex(rng: random.Random, g: GrammarConfig) -> str:
    """One formula. Tokens are space-separated and groups braced, the way a tidy corpus writes them."""
    r, depth = rng.random(), rng.randint(*g.depth)
    if r < g.classic_p:
        return rng.choice(CLASSICS)
    if r < g.classic_p + g.env_p:
        return _environment(rng, g, depth)
    lhs = _expr(rng, g, depth)
    return f"{lhs} {rng.choice(RELATIONS)} {_expr(rng, g, depth)}" if rng.random() < g.equation_p else lhs


def wrap(latex: str, display: bool) -> str:
    return rf"\[ {latex} \]" if display else rf"\( {latex} \)"


@dataclass
class FormulaConfig:
    display_p: float = 0.75  # display style (\[ \]) vs inline style (\( \))
    size: tuple[int, int] = (26, 60)  # px per em
    grammar: GrammarConfig = field(default_factory=GrammarConfig)
    pad: tuple[float, float] = (0.3, 2.0)  # margin around the formula, in ems
    ink: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (30, 30, 30), (20, 30, 100))
    paper: effects.PaperConfig = field(default_factory=effects.PaperConfig)
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(rotate=1.0, warp=0.01))


def hex_color(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass
class FormulaContent:
    latex: str
    display: bool
    size: int  # px per em
    ink: tuple[int, int, int]
    pad: tuple[float, ...]  # left, top, right, bottom margins, in ems
    paper: effects.Paper | None
    degradation: effects.Degradation | None


def sample_formula(rng: random.Random, cfg: FormulaConfig) -> FormulaContent:
    latex, display = random_latex(rng, cfg.grammar), rng.random() < cfg.display_p
    size, ink, pad = rng.randint(*cfg.size), rng.choice(cfg.ink), tuple(rng.uniform(*cfg.pad) for _ in range(4))
    paper, degradation = effects.sample_paper(rng, cfg.paper), effects.sample_degradation(rng, cfg.degrade)
    return FormulaContent(latex, display, size, ink, pad, paper, degradation)


def draw_formula(c: FormulaContent) -> Sample:
    math, _ = engines.mathjax(c.latex, c.size, display=c.display, color=hex_color(c.ink))
    pad = [round(p * c.size) for p in c.pad]
    canvas = effects.draw_paper((math.width + pad[0] + pad[2], math.height + pad[1] + pad[3]), c.paper)
    canvas.paste(math, (pad[0], pad[1]), math)
    image, _ = effects.degrade(canvas, c.degradation)
    return Sample(
        [image], wrap(c.latex, c.display), task="format", lang="en", source="render/formula", extra={"size": c.size}
    )


def render_formula(rng: random.Random, cfg: FormulaConfig) -> Sample:
    return draw_formula(sample_formula(rng, cfg))
