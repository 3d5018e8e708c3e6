"""The local web demo: upload an image or a PDF page, read it with a GOT model, see the text beside its rendering.

    python eval/demo_app.py MODEL [--host 127.0.0.1] [--port 7860] [--device cpu] [--dtype float32]
        [--tokenizer T] [--max-new-tokens N]

MODEL is a checkpoint in the got, official (GOT-OCR2_0) or hf layout. Open the printed URL in a browser; the page
loads nothing from the network. It listens on 127.0.0.1 only unless --host says otherwise (it has no login: give
another host only on a network you trust). --port 0 takes a free port. See got/infer/app.py and docs/inference.md.
"""

import argparse
import logging
import sys

from got.infer.api import load
from got.infer.app import Demo, DemoServer
from got.model.checkpoint import CheckpointError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a checkpoint: got, official (GOT-OCR2_0) or hf layout")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860, help="0: any free port")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--tokenizer", help="a *.tiktoken, for a checkpoint that carries none")
    p.add_argument("--max-new-tokens", type=int, default=4096)
    args = p.parse_args(argv)
    if args.max_new_tokens < 1:
        p.error("--max-new-tokens must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        model = load(args.model, args.device, args.dtype, tokenizer=args.tokenizer)
        server = DemoServer((args.host, args.port), Demo(model, args.model, args.max_new_tokens))
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the port is taken, or the host is not this machine's
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"GOT demo on {server.url} (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
