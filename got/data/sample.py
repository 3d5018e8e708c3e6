"""One training sample as the renderers and importers produce it, and its shard metadata (docs/data-format.md)."""

from dataclasses import dataclass, field

from PIL import Image

from got.prompts import COLORS, TASKS, build_query  # noqa: F401 (re-exported: the json's task and color values)

SCHEMA_VERSION = 1


@dataclass
class Sample:
    images: list[Image.Image]  # one image, or the pages of a multi-page sample, in order
    text: str  # the target
    task: str = "ocr"  # "ocr" (plain text) or "format" (markdown / LaTeX / structured targets)
    lang: str = "en"
    source: str = ""  # which renderer or importer made it, e.g. "render/document", "pdf/report.pdf"
    box: tuple[int, int, int, int] | None = None  # fine-grained region, 0-1000 normalised like GOT's prompt
    color: str | None = None  # fine-grained colour frame drawn on the image
    crop: bool = False  # multi-crop: the loader tiles the one (large) image, or several images are pre-cut views
    extra: dict = field(default_factory=dict)  # free-form provenance kept in the json, never read by training

    @property
    def kind(self) -> str:
        """What decides the prompt and the views: "crop", "pages", "box", "color" or "single"."""
        if self.crop:
            return "crop"
        if len(self.images) > 1:
            return "pages"
        if self.box is not None:
            return "box"
        return "color" if self.color is not None else "single"

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


def query_for(meta: dict, num_images: int) -> str:
    """GOT's query for a sample's json record with num_images images (its box is in 0-1000 coordinates)."""
    crop = meta.get("crop", False)
    return build_query(
        meta["task"],
        box=meta.get("box"),
        color=meta.get("color"),
        image_size=(1000, 1000),
        multi_crop=crop,
        multi_page=num_images > 1 and not crop,
    )
