"""Train the project's small byte-level BPE vocabulary and write it as a `.tiktoken` file.

The text comes from offline, deterministic sources: English docstrings from Python's stdlib, the 3755 common
(GB2312 level-1) Chinese characters, and LaTeX/markdown snippets. HF `tokenizers` does the training; its merges
become tiktoken ranks in merge order, after the 256 single bytes.
"""

from __future__ import annotations

import ast
import json
import sysconfig
import unicodedata
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from got.tokenizer import QWEN_PATTERN, token_bytes

# Each Chinese character or symbol is repeated this often so that its merges outrank all but the most frequent
# English ones: with 8000 ranks every GB2312 level-1 character becomes a single token.
CJK_REPEAT = 40
LATEX_REPEAT = 20

LATEX_COMMANDS = (
    r"\frac \sqrt \sum \prod \int \oint \lim \infty \partial \nabla \cdot \cdots \ldots \times \div \pm \mp "
    r"\leq \geq \neq \approx \equiv \sim \propto \in \notin \subset \subseteq \cup \cap \forall \exists "
    r"\rightarrow \leftarrow \Rightarrow \Leftrightarrow \mapsto \to \alpha \beta \gamma \delta \epsilon "
    r"\varepsilon \zeta \eta \theta \lambda \mu \nu \xi \pi \rho \sigma \tau \phi \varphi \chi \psi \omega "
    r"\Gamma \Delta \Theta \Lambda \Sigma \Phi \Psi \Omega \mathbf \mathrm \mathcal \mathbb \boldsymbol "
    r"\text \operatorname \hat \bar \vec \tilde \dot \overline \underline \left \right \big \quad \qquad "
    r"\sin \cos \tan \log \ln \exp \max \min \det \mathrm{d} \circ \angle \triangle \perp \parallel"
).split()
LATEX_TEMPLATES = (
    "${c}{{x}}$",
    "${c}_{{i=1}}^{{n}} a_{{i}}$",
    "\\[ {c} \\frac{{a+b}}{{2}} \\]",
    "$x^{{2}} {c} y_{{k}}$",
    "\\( {c}\\left( \\sqrt{{n}} \\right) \\)",
)
MARKUP = (
    "\\begin{array}{cc} a & b \\\\ c & d \\end{array}",
    "\\begin{aligned} f(x) &= 0 \\\\ \\end{aligned}",
    "\\begin{tabular}{|l|c|r|} \\hline A & B & C \\\\ \\hline \\end{tabular}",
    "\\multicolumn{2}{c}{x}",
    "\\multirow{2}{*}{y}",
    "\\title{Title}",
    "\\section*{Introduction}",
    "\\subsection{Method}",
    "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}",
    "# Heading\n## Section\n### Part\n",
    "**bold** and *italic* and `code`",
    "| Name | Value |\n| --- | --- |\n| a | 1 |\n",
    "- item\n1. first\n",
    "```python\nprint(1)\n```",
    "<table><tr><td>1</td></tr></table>",
    "[link](https://example.com/a.png)",
)

# Held-out samples (not in the training text) for reporting coverage.
SAMPLE_EN = (
    "Optical character recognition turns the text in a photographed page into editable text. This model reads "
    "English and Chinese documents, and it can also write formulas, tables and sheet music in a structured format."
)
SAMPLE_ZH = (
    "光学字符识别是把图像中的文字转换成可编辑文本的技术。这个模型可以识别中文和英文文档，"
    "也能输出数学公式、表格和乐谱的格式化结果。训练之前，我们先检查词表对常用汉字的覆盖情况。"
)


def english_texts() -> Iterator[str]:
    """pydoc's help topics, then every docstring of the top-level stdlib modules, in sorted order."""
    from pydoc_data.topics import topics

    yield from (topics[k] for k in sorted(topics))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/__init__.py")):
        tree = ast.parse(path.read_bytes())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                if doc := ast.get_docstring(node):
                    yield doc


def gb2312_row(row: int) -> list[str]:
    """The characters of one GB2312 row (rows 16-55 are the 3755 level-1 hanzi, 1 and 3 punctuation)."""
    chars = (bytes([0xA0 + row, 0xA0 + col]).decode("gb2312", errors="ignore") for col in range(1, 95))
    return [c for c in chars if c]


def chinese_texts() -> Iterator[str]:
    # A digit is always a pre-token of its own, so it isolates each character and every merge stays inside one.
    # (A newline would not: the pattern glues it to a preceding punctuation mark, as in "，\n".)
    chars = [c for row in (1, 3, *range(16, 56)) for c in gb2312_row(row)]
    text = "0".join(chars)
    for _ in range(CJK_REPEAT):
        yield text


def latex_texts() -> Iterator[str]:
    text = "\n".join([t.format(c=c) for c in LATEX_COMMANDS for t in LATEX_TEMPLATES] + list(MARKUP))
    for _ in range(LATEX_REPEAT):
        yield text


def corpus() -> Iterator[str]:
    for text in chain(english_texts(), chinese_texts(), latex_texts()):
        yield unicodedata.normalize("NFC", text)


def train_hf(texts: Iterable[str], size: int) -> Tokenizer:
    """Byte-level BPE with Qwen's pre-tokenisation, `size` tokens in all (256 bytes + merges)."""
    if size <= 256:
        raise ValueError(f"vocabulary size must exceed the 256 single bytes, got {size}")
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=size, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def byte_ranks() -> dict[bytes, int]:
    """The 256 single bytes as ranks 0..255: where every vocabulary starts, and the whole byte-level one."""
    return {bytes([b]): b for b in range(256)}


def hf_to_ranks(tok: Tokenizer) -> dict[bytes, int]:
    """Tiktoken ranks of a trained byte-level BPE: the 256 bytes, then each merge's result in merge order."""
    ranks = byte_ranks()
    for left, right in json.loads(tok.to_str())["model"]["merges"]:
        token = token_bytes(left + right)
        if token in ranks:
            raise ValueError(f"merge {left!r} + {right!r} repeats token {token!r}")
        ranks[token] = len(ranks)
    return ranks
