"""Packing: first-fit decreasing rows, the packed and padded batch layouts."""

import random

import pytest
import torch

from got.data.packing import Encoded, collate_packed, collate_padded, packing_efficiency, plan_rows


def encoded(length: int, views: int, answer: int, tag: int) -> Encoded:
    ids = [tag] * length
    labels = [-100] * (length - answer) + [tag] * answer
    return Encoded(ids, labels, [torch.full((3, 4, 4), tag, dtype=torch.uint8) for _ in range(views)])


def test_plan_rows_is_a_valid_first_fit_decreasing_packing():
    gen = random.Random(0)
    lengths = [gen.randint(300, 4000) for _ in range(200)]
    rows = plan_rows(lengths, 8192)
    assert sorted(i for row in rows for i in row) == list(range(200))
    assert all(sum(lengths[i] for i in row) <= 8192 for row in rows)
    assert all(row == sorted(row) for row in rows)
    # First fit: rooms only shrink, so no sample fits the room finally left in any earlier row.
    room = [8192 - sum(lengths[i] for i in row) for row in rows]
    for r, row in enumerate(rows):
        assert all(lengths[i] > room[earlier] for i in row for earlier in range(r))
    assert sum(lengths) / (len(rows) * 8192) > 0.95
    assert plan_rows([5, 5, 5], 10) == [[0, 1], [2]]
    with pytest.raises(ValueError, match="do not fit"):
        plan_rows([11], 10)


def test_collate_packed_layout():
    a, b, c = encoded(5, 1, 2, 1), encoded(3, 2, 1, 2), encoded(6, 1, 3, 3)
    rows = [[a, b], [c]]
    batch = collate_packed(rows, pad_id=0)
    assert batch["input_ids"].tolist() == [[1] * 5 + [2] * 3, [3] * 6 + [0, 0]]
    assert batch["labels"].tolist() == [
        [-100, -100, -100, 1, 1, -100, -100, 2],
        [-100, -100, -100, 3, 3, 3, -100, -100],
    ]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2], [0, 1, 2, 3, 4, 5, 0, 1]]
    assert batch["images"].shape == (4, 3, 4, 4) and batch["images"].is_contiguous()
    assert batch["images"].dtype == torch.uint8 and batch["images"][:, 0, 0, 0].tolist() == [1, 2, 2, 3]
    assert packing_efficiency(rows, 8) == 14 / 16


def test_collate_padded_layout():
    a, b = encoded(5, 1, 2, 1), encoded(3, 2, 1, 2)
    batch = collate_padded([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[1] * 5, [2, 2, 2, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["labels"][1].tolist() == [-100, -100, 2, -100, -100]
    assert batch["images"][:, 0, 0, 0].tolist() == [1, 2, 2]
