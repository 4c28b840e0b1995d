#!/usr/bin/env bash
# Makes a local stand-in for the official node:20-bookworm-slim image, for machines that
# cannot pull from Docker Hub: a minimal Debian bookworm made by debootstrap from a Debian
# mirror, with this machine's Node (same major) and npm added the way the official image
# lays them out, and tini. The result is `docker import`ed, then used with
#   docker build --network host --build-arg NODE_IMAGE=registry-mirror-base:node20 .
#
# Usage: scripts/make-base-image.sh [tag]      (default registry-mirror-base:node20)
# Environment:
#   NODE_MAJOR      the Node major the image must carry (default 20); the node on PATH must match
#   DEBIAN_MIRROR   where debootstrap downloads from (default http://deb.debian.org/debian)
#   BASE_ROOTFS_TAR a tarball of the finished root file system: reused when it exists,
#                   written after a build otherwise (debootstrap takes a few minutes)
#   EXTRA_CA_CERTS  a PEM file of certificates Node in the image trusts besides its own, for
#                   sites whose egress re-signs TLS (npm ci in the build must reach the
#                   registry); defaults to this machine's NODE_EXTRA_CA_CERTS
#   FORCE=1         rebuild even when the tag exists
#   DOCKER_HOST     the daemon to import into (docker's own variable)
# Needs root (debootstrap), debootstrap, docker, node and npm.
set -euo pipefail

tag="${1:-registry-mirror-base:node20}"
node_major="${NODE_MAJOR:-20}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm

fail() {
  echo "make-base-image: $*" >&2
  exit 1
}

for command in debootstrap docker node npm tar; do
  command -v "$command" >/dev/null || fail "needs $command (apt-get install debootstrap docker.io)"
done
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap)"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "make-base-image: $tag exists (FORCE=1 to rebuild)"
  exit 0
fi

node_version="$(node --version)"
node_version="${node_version#v}"
[ "${node_version%%.*}" = "$node_major" ] || fail "node on PATH is $node_version, not Node $node_major"
node_bin="$(readlink -f "$(command -v node)")"
extra_ca="${EXTRA_CA_CERTS-${NODE_EXTRA_CA_CERTS:-}}"
[ -z "$extra_ca" ] || [ -s "$extra_ca" ] || fail "no certificates in $extra_ca"
global_modules="$(npm root -g)"
[ -d "$global_modules/npm" ] || fail "npm is not at $global_modules/npm"

work="$(mktemp -d)"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

make_rootfs() {
  local root="$work/rootfs"
  # minbase: essential packages and apt, as debian:bookworm-slim; tini forwards signals as PID 1.
  debootstrap --variant=minbase --include=ca-certificates,tini "$suite" "$root" "$mirror"
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
  # As in Debian's official images: apt keeps no package caches in image layers.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  # The official image's layout: node in /usr/local/bin, npm and corepack in /usr/local/lib.
  install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$global_modules/npm" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  if [ -d "$global_modules/corepack" ]; then
    cp -a "$global_modules/corepack" "$root/usr/local/lib/node_modules/corepack"
    ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
  fi
  if [ -n "$extra_ca" ]; then
    install -D -m 0644 "$extra_ca" "$root/etc/ssl/extra-ca.pem"
  fi
  # The official image's user.
  # A clean environment: NODE_OPTIONS and the like of this machine mean nothing in there.
  local in_root=(chroot "$root" env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root)
  "${in_root[@]}" groupadd --gid 1000 node
  "${in_root[@]}" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  "${in_root[@]}" node --version >/dev/null
  "${in_root[@]}" npm --version >/dev/null
  # What debian:bookworm-slim leaves out.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
  tar --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
}

rootfs_tar="${BASE_ROOTFS_TAR:-}"
if [ -n "$rootfs_tar" ] && [ -s "$rootfs_tar" ]; then
  echo "make-base-image: reusing $rootfs_tar"
else
  make_rootfs
  if [ -n "$rootfs_tar" ]; then
    mkdir -p "$(dirname "$rootfs_tar")"
    mv "$work/rootfs.tar" "$rootfs_tar.partial"
    mv "$rootfs_tar.partial" "$rootfs_tar"
  else
    rootfs_tar="$work/rootfs.tar"
  fi
fi

changes=(--change "ENV NODE_VERSION=$node_version")
if [ -n "$extra_ca" ]; then
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/extra-ca.pem')
fi
docker import \
  "${changes[@]}" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  --message "Debian $suite (debootstrap minbase) with Node $node_version, npm and tini" \
  "$rootfs_tar" "$tag"
echo "make-base-image: imported $tag"
