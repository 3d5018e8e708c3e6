"""One training sample as the renderers and importers produce it, and its shard metadata (docs/data-format.md)."""

from dataclasses import dataclass, field

from PIL import Image

SCHEMA_VERSION = 1
TASKS = ("ocr", "format")
COLORS = ("red", "green", "blue")


@dataclass
class Sample:
    images: list[Image.Image]  # one image, or the pages of a multi-page sample, in order
    text: str  # the target
    task: str = "ocr"  # "ocr" (plain text) or "format" (markdown / LaTeX / structured targets)
    lang: str = "en"
    source: str = ""  # which renderer or importer made it, e.g. "render/document", "pdf/report.pdf"
    box: tuple[int, int, int, int] | None = None  # fine-grained region, 0-1000 normalised like GOT's prompt
    color: str | None = None  # fine-grained colour frame drawn on the image
    crop: bool = False  # multi-crop: the loader tiles the (large) image into views
    extra: dict = field(default_factory=dict)  # free-form provenance kept in the json, never read by training

    def meta(self) -> dict:
        """The sample's json record (everything but the images)."""
        meta = {"v": SCHEMA_VERSION, "task": self.task, "text": self.text, "lang": self.lang, "source": self.source}
        if self.box is not None:
            meta["box"] = [int(c) for c in self.box]
        if self.color is not None:
            meta["color"] = self.color
        if self.crop:
            meta["crop"] = True
        if self.extra:
            meta["extra"] = self.extra
        return meta
