"""Shards, the streaming loader, augmentation, packing and importers (docs/data.md)."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # otherwise importing albumentations asks the network
