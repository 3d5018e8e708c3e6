"""Batching: padding-free packing of samples into rows (greedy first-fit decreasing), and a padded collator.

Both give what GOTModel.forward takes: input_ids and labels (B, L) (labels aligned, -100 where untrained), and
images uint8 (V, 3, S, S) holding the views of every sample in row-major sample order. Packed rows add
position_ids that restart at 0 for each sample (and for the padding after the last one); padded rows add an
attention_mask instead.

    rows = [[samples[i] for i in row] for row in plan_rows([s.length for s in samples], max_tokens)]
    batch, efficiency = collate_packed(rows, pad_id), packing_efficiency(rows, max_tokens)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.utils.data import default_collate

from got.prompts import IGNORE_INDEX


@dataclass
class Encoded:
    """One sample ready for batching."""

    input_ids: list[int]
    labels: list[int]
    views: list[torch.Tensor]  # uint8 (3, S, S) each, in order, in any memory layout

    @property
    def length(self) -> int:
        return len(self.input_ids)


def plan_rows(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Greedy first-fit decreasing: the indices of the samples in each row, whose lengths sum to at most
    max_tokens. Longest samples are placed first; each goes into the first row with room. Within a row the
    samples keep their input order."""
    if too_long := [n for n in lengths if n > max_tokens]:
        raise ValueError(f"samples of {too_long[:3]} tokens do not fit rows of max_tokens={max_tokens}")
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        row = next((r for r, free in enumerate(room) if free >= lengths[i]), None)
        if row is None:
            rows.append([])
            room.append(max_tokens)
            row = len(rows) - 1
        rows[row].append(i)
        room[row] -= lengths[i]
    return [sorted(row) for row in rows]


def packing_efficiency(rows: Sequence[Sequence[Encoded]], max_tokens: int) -> float:
    """Real tokens / row capacity (rows · max_tokens)."""
    return sum(s.length for row in rows for s in row) / (len(rows) * max_tokens)


def collate_packed(rows: Sequence[Sequence[Encoded]], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows of samples -> input_ids, labels, position_ids (B, L) and images; L is the longest row."""
    width = max(sum(s.length for s in row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        start = 0
        for s in row:
            end = start + s.length
            input_ids[b, start:end] = torch.tensor(s.input_ids)
            labels[b, start:end] = torch.tensor(s.labels)
            position_ids[b, start:end] = torch.arange(s.length)
            start = end
        position_ids[b, start:] = torch.arange(width - start)  # padding: one more sample, without labels
    images = stack_views([s for row in rows for s in row])
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids, "images": images}


def collate_padded(samples: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """One sample per row, right-padded to the longest: input_ids, labels, attention_mask (B, L) and images."""
    batch = collate_packed([[s] for s in samples], pad_id)
    del batch["position_ids"]
    lengths = torch.tensor([s.length for s in samples])
    batch["attention_mask"] = (torch.arange(batch["input_ids"].shape[1]) < lengths[:, None]).long()
    return batch


def stack_views(samples: Sequence[Encoded]) -> torch.Tensor:
    """All views in sample order as one contiguous uint8 (V, 3, S, S). default_collate stacks straight into
    shared memory inside a DataLoader worker, which saves the copy the worker would make to send the batch."""
    return default_collate([view for s in samples for view in s.views])
