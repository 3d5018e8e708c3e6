"""Shards, the streaming loader, augmentation, tiling, packing and importers (docs/data.md)."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # otherwise importing albumentations asks the network
