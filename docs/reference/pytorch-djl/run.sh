#!/bin/sh
# Runs the DJL/libtorch reference step benchmark. Build first: mvn -q -B package
# All arguments are passed through, e.g.
#   ./run.sh --mixer attention --context 64 --batch 12 --width 128 --layers 4 --warmup 3 --steps 30 --threads 2
#   ./run.sh --check            (correctness checks for all four mixers)
set -e
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/target/classpath.txt" ] || { echo "build first: (cd $here && mvn -q -B package)" >&2; exit 1; }
# libtorch/libdjl_torch are extracted once from the jars on the classpath into this directory
cache="$here/.djl-cache"
exec java -Xss4m \
  -DENGINE_CACHE_DIR="$cache" -DDJL_CACHE_DIR="$cache" \
  -Dai.djl.offline=true -DPYTORCH_VERSION=2.7.1 -DPYTORCH_FLAVOR=cpu \
  -cp "$here/target/pytorch-djl.jar:$(cat "$here/target/classpath.txt")" ref.Bench "$@"
