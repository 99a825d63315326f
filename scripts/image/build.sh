#!/usr/bin/env bash
# Builds the container image (Containerfile, FROM scratch) with buildah:
# first the static binary on the host, then the image around it. Nothing is
# pulled from a registry, and no container runs.
#
# Usage: scripts/image/build.sh [IMAGE]     default IMAGE: localhost/hookline:dev
# Environment:
#   VERSION   the version the binary reports (default: git describe, else
#             devel-COMMIT)
#   GOARCH    the image's architecture (default: this machine's); a FROM
#             scratch image needs no emulation to be built for another
#   BUILDAH_STORAGE_DRIVER  default vfs, which works without kernel support
#             for overlay mounts (in CI, in a container)
# The build context is left in dist/image/.
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-localhost/hookline:dev}
driver=${BUILDAH_STORAGE_DRIVER:-vfs}
arch=${GOARCH:-$(go env GOARCH)}
commit=$(git rev-parse HEAD 2>/dev/null || true)
version=${VERSION:-$(git describe --tags --match 'v*' --dirty 2>/dev/null ||
  echo "devel-${commit:0:12}")}
# The commit's date, as GoReleaser's {{ .CommitDate }}: the same commit
# builds the same binary.
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || true)

ctx=dist/image
rm -rf "$ctx"
mkdir -p "$ctx/data" "$ctx/tmp"
pkg=github.com/hookline/hookline/internal/cli
echo "building hookline ${version} for linux/${arch}"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
  -ldflags "-s -w -X ${pkg}.version=${version} -X ${pkg}.commit=${commit} -X ${pkg}.date=${date}" \
  -o "$ctx/hookline" ./cmd/hookline

echo "building image ${image}"
buildah bud --storage-driver "$driver" --isolation chroot \
  --platform "linux/${arch}" \
  --build-arg "VERSION=${version}" --build-arg "REVISION=${commit}" \
  --file Containerfile --tag "$image" "$ctx"
