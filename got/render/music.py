"""Sheet music: Humdrum **kern excerpts, engraved by verovio (in a child process: malformed kern kills the process
that parses it) and rasterised by resvg. Real music comes from the music21 wheel's corpus (1,300+ .krn files, read
from disk, music21 never imported): a window of measures over a subset of the voices, sometimes in diminution.
Synthesised music adds random melodies over keys and meters. Target: the **kern text verovio engraved.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache

from got.data.sample import Sample
from got.render import effects, engines, fonts
from got.render.text import disk_cached, package_dir

SHARPS, FLATS = "fcgdaeb", "beadgcf"
METERS = {"2/4": 2.0, "3/4": 3.0, "4/4": 4.0, "6/8": 3.0, "3/8": 1.5, "2/2": 4.0}
HEADER = (("instrument", r"\*I"), ("clef", r"\*clef"), ("key", r"\*k\["), ("meter", r"\*M\d"), ("met", r"\*met\("))
PARTS = (("*clefF4", -14, -2), ("*clefG2", -3, 9))  # clef and diatonic range (0 = middle C) of each staff
DURATIONS = {"1": 4.0, "2.": 3.0, "2": 2.0, "4.": 1.5, "4": 1.0, "8.": 0.75, "8": 0.5, "16": 0.25}  # kern -> quarters


@dataclass
class MusicConfig:
    real_p: float = 0.7  # corpus excerpts vs synthesised melodies
    measures: tuple[int, int] = (2, 6)
    voices: tuple[int, int] = (1, 4)  # spines kept from a corpus piece
    diminution_p: float = 0.2  # halve every duration (and the meter's unit)
    # synthesised music
    key_fifths: tuple[int, int] = (-4, 4)  # major keys from 4 flats to 4 sharps
    grand_staff_p: float = 0.5  # bass and treble staves (else treble alone)
    steps: tuple[int, ...] = (-2, -1, -1, 0, 1, 1, 2, 3, -3)  # diatonic steps between notes, picked uniformly
    rest_p: float = 0.08  # a note is a rest
    page_width: tuple[int, int] = (1200, 2400)  # verovio units; the image is page_width * scale / 100 px wide
    scale: tuple[int, int] = (28, 45)  # verovio percent; rasterising costs in proportion to its square
    paper: effects.PaperConfig = field(default_factory=lambda: effects.PaperConfig(plain_p=0.5))
    degrade: effects.DegradeConfig = field(default_factory=lambda: effects.DegradeConfig(rotate=0.8, warp=0.008))


@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[list[str], ...], ...]:
    """Each usable piece as rows of kern-spine tokens (comments, non-kern spines and pieces that split or merge
    spines are left out, so any subset of columns is still valid kern). Cached on disk: parsing takes ~2 s."""
    root = package_dir("music21") / "corpus"

    def build() -> list:
        pieces = []
        for path in sorted(root.rglob("*.krn")):
            lines = path.read_text(encoding="latin-1").split("\n")
            rows = [ln.split("\t") for ln in lines if ln and not ln.startswith("!")]
            if not rows or not rows[0][0].startswith("**"):
                continue
            keep = [i for i, tok in enumerate(rows[0]) if tok == "**kern"]
            body = [[r[i] for i in keep] for r in rows if len(r) == len(rows[0])]
            if len(body) == len(rows) and not any(t in ("*^", "*v", "*x", "*+") for r in body for t in r):
                pieces.append(body)
        if not pieces:
            raise RuntimeError("no **kern pieces found in the music21 corpus (pip install music21)")
        return pieces

    return tuple(tuple(piece) for piece in disk_cached("kern", str(root), build))


def _halve(token: str) -> str:
    """The token in diminution: every duration halved, and a meter's unit with it."""
    if token.startswith("*"):
        return re.sub(r"^\*M(\d+)/(\d+)$", lambda m: f"*M{m[1]}/{int(m[2]) * 2}", token)
    if token.startswith(("=", "!")) or token == ".":
        return token
    return " ".join(
        re.sub(r"\d+", lambda m: "1" if m[0] == "0" else str(int(m[0]) * 2), sub, count=1) for sub in token.split(" ")
    )


def excerpt(rng: random.Random, cfg: MusicConfig) -> str:
    rows = rng.choice(corpus())
    n = len(rows[0])
    cols = sorted(rng.sample(range(n), rng.randint(cfg.voices[0], min(cfg.voices[1], n))))
    bars = [i for i, r in enumerate(rows) if r[0].startswith("=")]
    if len(bars) < 2:
        raise engines.RenderError("piece has no measures")
    m = rng.randint(*cfg.measures)
    k = rng.randrange(max(1, len(bars) - m))
    start, end = bars[k], bars[min(k + m, len(bars) - 1)]
    # the clef, key, meter in force at the window's start, latest of each kind
    state: list[dict[str, str]] = [{} for _ in range(n)]
    for r in rows[1:start]:
        for i, tok in enumerate(r):
            for kind, pattern in HEADER:
                if re.match(pattern, tok):
                    state[i][kind] = tok
    header = [["**kern"] * len(cols)]
    for kind, _ in HEADER:
        line = [state[c].get(kind, "*") for c in cols]
        if any(t != "*" for t in line):
            header.append(line)
    body = []
    for r in rows[start:end]:
        line = [r[c] for c in cols]
        if all(t in (".", "*") for t in line) or (line[0].startswith("*") and all(t == "*" for t in line)):
            continue
        body.append(line)
    if rng.random() < cfg.diminution_p:
        header = [[_halve(t) for t in line] for line in header]
        body = [[_halve(t) for t in line] for line in body]
    out = header + body + [["=="] * len(cols), ["*-"] * len(cols)]
    return "\n".join("\t".join(line) for line in out)


def _scale(rng: random.Random, cfg: MusicConfig) -> tuple[list[str], str]:
    """The seven diatonic pitch classes of a random major key, in kern spelling, and its *k[] signature."""
    fifths = rng.randint(*cfg.key_fifths)
    acc = {c: "#" for c in SHARPS[:fifths]} if fifths > 0 else {c: "-" for c in FLATS[:-fifths]}
    return [c + acc.get(c, "") for c in "cdefgab"], "*k[" + "".join(c + a for c, a in acc.items()) + "]"


def _kern_pitch(step: int, scale: list[str]) -> str:
    """Diatonic step 0 = middle C's octave (kern c = C4); lower octaves are upper-case letters, repeated."""
    octave, degree = divmod(step, 7)
    name = scale[degree]
    letter, acc = name[0], name[1:]
    return (letter * (octave + 1) if octave >= 0 else letter.upper() * -octave) + acc


def _voice(
    rng: random.Random, cfg: MusicConfig, scale: list[str], measure: float, measures: int, low: int, high: int
) -> list[tuple[float, str]]:
    """(onset in quarters, token) pairs, barlines included, each measure filled exactly; the voice starts anywhere
    in its range."""
    out, t, step = [], 0.0, rng.randint(low, high)
    for m in range(measures):
        if m:
            out.append((t, f"={m + 1}"))
        left = measure
        while left > 1e-9:
            dur = rng.choice([d for d, q in DURATIONS.items() if q <= left + 1e-9])
            step = min(high, max(low, step + rng.choice(cfg.steps)))
            out.append((t, f"{dur}r" if rng.random() < cfg.rest_p else dur + _kern_pitch(step, scale)))
            t, left = t + DURATIONS[dur], left - DURATIONS[dur]
    return out


def synthesise(rng: random.Random, cfg: MusicConfig) -> str:
    scale, key = _scale(rng, cfg)
    meter = rng.choice(list(METERS))
    measures = rng.randint(*cfg.measures)
    parts = PARTS if rng.random() < cfg.grand_staff_p else PARTS[1:]
    voices = [_voice(rng, cfg, scale, METERS[meter], measures, low, high) for _, low, high in parts]
    # time-align the voices: one row per onset, "." where a voice holds its note
    times = sorted({t for v in voices for t, tok in v if not tok.startswith("=")})
    rows = [
        ["**kern"] * len(parts),
        [c for c, _, _ in parts],
        [key] * len(parts),
        [f"*M{meter}"] * len(parts),
        ["=1-"] * len(parts),
    ]
    notes = [{t: tok for t, tok in v if not tok.startswith("=")} for v in voices]
    bars = {t: tok for t, tok in voices[0] if tok.startswith("=")}
    for t in times:
        if t in bars:
            rows.append([bars[t]] * len(parts))
        rows.append([n.get(t, ".") for n in notes])
    rows += [["=="] * len(parts), ["*-"] * len(parts)]
    return "\n".join("\t".join(r) for r in rows)


@dataclass
class MusicContent:
    kern: str  # the target, and what verovio engraves
    real: bool  # a corpus excerpt (else synthesised)
    page_width: int  # verovio units
    scale: int  # verovio percent
    paper: effects.Paper | None
    degradation: effects.Degradation | None


def sample_music(rng: random.Random, cfg: MusicConfig) -> MusicContent:
    real = rng.random() < cfg.real_p
    kern = excerpt(rng, cfg) if real else synthesise(rng, cfg)
    return MusicContent(
        kern,
        real,
        rng.randint(*cfg.page_width),
        rng.randint(*cfg.scale),
        effects.sample_paper(rng, cfg.paper),
        effects.sample_degradation(rng, cfg.degrade),
    )


def draw_music(c: MusicContent) -> Sample:
    options = {
        "inputFrom": "humdrum",
        "pageWidth": c.page_width,
        "pageHeight": 60000,
        "adjustPageHeight": True,
        "scale": c.scale,
        "header": "none",
        "footer": "none",
        "pageMarginLeft": 50,
        "pageMarginRight": 50,
        "pageMarginTop": 50,
        "pageMarginBottom": 50,
    }
    svg, pages = engines.verovio(c.kern, options)
    if pages != 1:
        raise engines.RenderError(f"excerpt engraved on {pages} pages")
    serif = [f.path for f in fonts.faces("en") if "NimbusRoman-Regular" in f.path][:1]  # verovio asks for Times
    drawing = engines.svg_to_image(svg, font_files=serif)
    canvas = effects.draw_paper(drawing.size, c.paper)
    canvas.paste(drawing, (0, 0), drawing)
    image, _ = effects.degrade(canvas, c.degradation)
    return Sample([image], c.kern, task="format", lang="en", source="render/music", extra={"real": c.real})


def render_music(rng: random.Random, cfg: MusicConfig) -> Sample:
    return draw_music(sample_music(rng, cfg))
