"""Turn PDFs (files or folders of them) into training shards, with targets from their text layer.

    python data/pdf2shards.py reports/ extra.pdf --out shards/mydocs --granularity page,line --dpi 150

Encrypted, corrupt and text-less PDFs are reported and skipped. See docs/data.md.
"""

import argparse

from got.data.importers import Report, write_all
from got.data.importers.pdf import GRANULARITIES, PdfOptions, find_pdfs, pdf_samples
from got.data.shards import ShardWriter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="PDF files or directories (searched recursively)")
    parser.add_argument("--out", required=True, help="shard directory (added to if it exists)")
    parser.add_argument("--granularity", default="page", help=f"comma-separated, of {', '.join(GRANULARITIES)}")
    parser.add_argument("--lang", default="auto", help="language code, or auto (guessed per PDF from its script)")
    parser.add_argument("--dpi", type=int, default=150, help="page rendering resolution (default 150)")
    parser.add_argument("--max-count", type=int, default=1000, help="samples per shard (default 1000)")
    parser.add_argument("--max-image-size", type=int, default=1024, help="longest stored image side (default 1024)")
    parser.add_argument(
        "--max-page-pixels",
        type=int,
        default=PdfOptions.max_page_pixels,
        help="skip a page whose render would exceed this many pixels (default 40 MP)",
    )
    args = parser.parse_args(argv)
    try:
        opts = PdfOptions(
            dpi=args.dpi, granularity=args.granularity.split(","), lang=args.lang, max_page_pixels=args.max_page_pixels
        )
        pdfs = find_pdfs(args.inputs)
        if not pdfs:
            raise FileNotFoundError(f"no PDF files in {', '.join(args.inputs)}")
        writer = ShardWriter(args.out, max_count=args.max_count, max_image_size=args.max_image_size)
    except (ValueError, OSError) as e:  # bad options, missing inputs, an --out that cannot be a directory
        parser.error(str(e))

    report = Report()
    with writer:
        for path in pdfs:
            write_all(pdf_samples(path, opts, report), writer, report)
    print(report.summary())


if __name__ == "__main__":
    main()
