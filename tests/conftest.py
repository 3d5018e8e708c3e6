import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the entry-point scripts (train/, data/, eval/, bench/) import from the checkout
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from got.tokenizer import GOTTokenizer  # noqa: E402  (after the path setup above)

QWEN_VOCAB = ROOT.parent / "shared/vocab/qwen.tiktoken"  # tests-only copy of the real vocabulary (DESIGN §3)


@pytest.fixture(scope="module")
def qwen() -> GOTTokenizer:
    if not QWEN_VOCAB.is_file():
        pytest.skip(f"the real Qwen vocabulary is not at {QWEN_VOCAB} (tests-only file, see DESIGN §3)")
    return GOTTokenizer.from_file(QWEN_VOCAB)


@pytest.fixture(scope="module")
def tiny() -> GOTTokenizer:
    return GOTTokenizer.default()
