"""Render synthetic GOT training data into shards (docs/render.md).

    python data/render.py --types document,formula --num 10000 --out shards/synth --workers 8 --seed 0
    python data/render.py --num 1000000 --out shards/synth --part 3/16   # machine 3 of 16, same dataset

The same arguments give the same shards; a rerun resumes (finished shards are skipped); --part i/n renders the
chunks c with c % n == i. --config takes YAML or JSON: {"weights": {type: w}, type: {field: value, ...}}, and
a `defaults:` list of other configs it builds on (got/config_file.py).
"""

import argparse
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from got.render import RENDERERS  # noqa: E402
from got.config_file import load_config  # noqa: E402
from got.render.run import RenderJob, run  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--types", default=",".join(RENDERERS), help=f"comma-separated, of: {','.join(RENDERERS)}")
    p.add_argument("--num", type=int, required=True, help="samples in the whole dataset (all parts)")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lang", default=None, help="e.g. en,zh: overrides every type's languages")
    p.add_argument("--config", default=None, help="YAML/JSON: weights and per-type config overrides")
    p.add_argument("--part", default="0/1", help="i/n: render part i of n")
    p.add_argument("--shard-size", type=int, default=1000, help="samples per shard")
    p.add_argument("--image-format", default="png", choices=("png", "jpg", "webp"))
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    i, _, n = args.part.partition("/")
    if not (i.isdigit() and (n or "1").isdigit()):
        p.error(f"--part must be i/n (e.g. 3/16), got {args.part!r}")
    part = (int(i), int(n or 1))
    try:
        config = load_config(args.config) if args.config else {}
        job = RenderJob(
            out=args.out,
            num=args.num,
            types=tuple(t for t in args.types.split(",") if t),
            weights=config.pop("weights", {}),
            configs=config,
            langs=tuple(args.lang.split(",")) if args.lang else None,
            seed=args.seed,
            workers=args.workers,
            part=part,
            shard_size=args.shard_size,
            image_format=args.image_format,
        )
    except ValueError as e:  # a bad --config, part or type: one line, not a traceback
        p.error(str(e))
    result = run(job, progress=not args.quiet)
    rate = result["written"] / max(result["seconds"], 1e-9)
    print(
        f"{result['written']} samples written ({rate:.1f}/s), {sum(result['failed'].values())} failed "
        f"{result['failed'] or ''}, {result['skipped_shards']} finished shards skipped, prefix {result['prefix']}"
    )
    return result


if __name__ == "__main__":
    main()
