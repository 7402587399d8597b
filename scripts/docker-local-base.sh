#!/usr/bin/env bash
# Builds a Debian base image with a Java 17 runtime without pulling anything from a container registry:
# debootstrap installs a minimal Debian (plus openjdk-17-jre-headless) into a folder, which is imported
# into the local Docker engine as an image. The container tests use it where no registry is reachable:
#
#   sudo scripts/docker-local-base.sh                 # builds leviathan-base:bookworm-jre17 (once)
#   mvn verify -Dleviathan.base.image=leviathan-base:bookworm-jre17
#
# Needs root (debootstrap), debootstrap, a running Docker engine and a reachable Debian mirror.
# Environment: MIRROR (default http://deb.debian.org/debian), SUITE (default bookworm).
# Options: --force rebuilds an image that already exists. Prints the image name on the last line.
set -euo pipefail

IMAGE="leviathan-base:bookworm-jre17"
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
    *) IMAGE="$arg" ;;
  esac
done
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if [ "$(id -u)" -ne 0 ]; then
  echo "debootstrap needs root: run this script as root (sudo $0)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "no Docker engine reachable (docker info fails)" >&2; exit 1; }

if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE already exists (pass --force to rebuild)" >&2
  echo "$IMAGE"
  exit 0
fi

ROOTFS="$(mktemp -d "${TMPDIR:-/tmp}/leviathan-rootfs.XXXXXX")"
cleanup() {
  # /proc or /sys may still be mounted inside the folder when debootstrap fails half-way.
  for m in proc sys dev/pts dev; do
    mountpoint -q "$ROOTFS/$m" 2>/dev/null && umount -l "$ROOTFS/$m" || true
  done
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

start=$(date +%s)
echo "debootstrap $SUITE from $MIRROR into $ROOTFS ..." >&2
debootstrap --variant=minbase --include=openjdk-17-jre-headless "$SUITE" "$ROOTFS" "$MIRROR" >&2

# Nothing below is needed at run time: package caches and lists, documentation, manual pages.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
if ! compgen -G "$ROOTFS/usr/lib/jvm/java-17-openjdk-*/bin/java" >/dev/null || [ ! -L "$ROOTFS/usr/bin/java" ]; then
  echo "the image has no Java 17 runtime (openjdk-17-jre-headless did not install)" >&2
  exit 1
fi

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE in $(( $(date +%s) - start )) s" >&2
echo "$IMAGE"
