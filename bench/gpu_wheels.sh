#!/usr/bin/env bash
# Everything bench/gpu_check.py needs on a lent GPU machine that its image lacks, in one git-ignored folder that
# the device call carries (docs/performance.md#gpu). That machine reaches no package registry; its image has
# CPython 3.12, torch 2.11 (CUDA 13), transformers 5.17, triton, numpy, opencv, scipy, pyyaml, tqdm, msgpack,
# einops, ninja, psutil, py-cpuinfo, safetensors, tiktoken, tokenizers, peft, and none of the rest of our runtime.
#
#   bash bench/gpu_wheels.sh [DIR]      # DIR defaults to .gpu_carry
#
# DIR/wheels   cp312 manylinux wheels and pure wheels of the GPU path's imports, at the versions installed here
#              (the ones the test suite runs against): hydra and omegaconf (the stage entry points), webdataset
#              and albumentations (the loader, its `light` augmentation), DeepSpeed, pydantic (DeepSpeed's and
#              albumentations' config models), nltk and rapidfuzz (got.train.evaluate, imported by the engine);
#              and transformers at pyproject's lower bound: the image's 5.17 predates the decoder's `cache`
#              argument (5.24), which generation passes, and activation_checkpointing_enable (5.23).
# DIR/liger    Liger's fused linear cross-entropy, kept apart so a part can run with or without it.
# DIR/shards   a small stage-2 mix rendered here (document pages, scene text, formulas, tables, charts, geometry,
#              molecules, music), so the GPU machine needs none of the renderers' fonts, node, RDKit or verovio.
#
# DeepSpeed and antlr4 (omegaconf's parser) publish source tarballs only: they are built here into pure wheels with
# --no-build-isolation and no ops prebuilt (DS_BUILD_OPS=0). DeepSpeed picks its accelerator when it is imported
# (the CUDA one on a GPU machine; the 'cpu' recorded at build time only concerns prebuilt ops, of which there are
# none), and would JIT-build an op with ninja and nvcc on first use. ZeRO-2 with torch's AdamW on CUDA uses none:
# the shared-memory allreduce op is the CPU accelerator's, the CUDA one reduces through NCCL. The check confirms it
# by listing what landed in TORCH_EXTENSIONS_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.gpu_carry}
PY=3.12
BUDGET_MIB=50
PLATFORMS=(manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64
           manylinux_2_28_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64)
LIGER=liger-kernel==0.8.5
TRANSFORMERS="transformers==$(sed -n 's/.*"transformers>=\([0-9.]*\),.*/\1/p' pyproject.toml).*"

installed() {  # NAME==VERSION of each distribution as installed here
  python - "$@" <<'EOF'
import importlib.metadata as m, sys
for name in sys.argv[1:]:
    print(f"{name}=={m.version(name)}")
EOF
}

download() {  # DIR SPEC...: binary wheels for CPython $PY on x86-64 Linux, without their dependencies
  local dir=$1; shift
  python -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
    "${PLATFORMS[@]/#/--platform=}" -d "$dir" "$@"
}

rm -rf "$OUT/wheels" "$OUT/liger" "$OUT/shards"
mkdir -p "$OUT/wheels" "$OUT/liger"
mapfile -t SPECS < <(installed hydra-core omegaconf webdataset braceexpand albumentations albucore pydantic \
  pydantic_core typing-inspection annotated-types typing_extensions stringzilla simsimd hjson nltk defusedxml rapidfuzz)
download "$OUT/wheels" "${SPECS[@]}" "$TRANSFORMERS"
mapfile -t SDISTS < <(installed deepspeed antlr4-python3-runtime)
DS_BUILD_OPS=0 python -m pip wheel -q --no-deps --no-build-isolation --no-cache-dir -w "$OUT/wheels" "${SDISTS[@]}"
download "$OUT/liger" "$LIGER"

python data/render.py --types document,scene,formula,table,chart,geometry,molecule,music --num 64 --shard-size 16 \
  --image-format jpg --workers "$(nproc)" --seed 7 --quiet --out "$OUT/shards" \
  --config <(echo '{"weights": {"document": 9, "scene": 2, "formula": 2, "table": 2, "chart": 2, "geometry": 1,
                                "molecule": 1, "music": 1},
                    "document": {"kinds": {"page": 1.0}}}')

mib() { du -sm "$@" | awk '{s += $1} END {print s}'; }
ls -1 "$OUT/wheels" "$OUT/liger"
wheels=$(mib "$OUT/wheels" "$OUT/liger")
echo "wheels: ${wheels} MiB (budget ${BUDGET_MIB}); shards: $(mib "$OUT/shards") MiB; $OUT in all: $(mib "$OUT") MiB"
if ((wheels > BUDGET_MIB)); then
  echo "error: the wheels take ${wheels} MiB, over the ${BUDGET_MIB} MiB budget" >&2
  exit 1
fi
