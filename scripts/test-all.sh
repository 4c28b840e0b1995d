#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: the system packages the tests start
# (CNCF Distribution, skopeo, redis-server, openssl, Prometheus, dockerd, containerd, podman,
# docker-compose to validate deploy/compose.yaml, tinyproxy as an upstream proxy, htpasswd
# for a registry with Basic auth), then npm ci, typecheck, lint, format check
# and the tests. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that need machine features (the container engines) fail on CI instead of
# skipping when those features are missing: this script installs them.
export CI="${CI:-true}"

packages=(docker-registry skopeo redis-server openssl prometheus docker.io containerd podman docker-compose tinyproxy apache2-utils)
commands=(docker-registry skopeo redis-server openssl promtool dockerd containerd podman docker-compose tinyproxy htpasswd)
missing=()
for i in "${!commands[@]}"; do
  command -v "${commands[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# On a systemd host the docker-registry package starts and enables a registry on port 5000,
# the mirror's default; the tests start their own on free ports. Undo that when this run
# installed it (a registry installed before is the machine owner's business).
if [[ " ${missing[*]:-} " == *" docker-registry "* ]] && [ -d /run/systemd/system ]; then
  echo "stopping and disabling the docker-registry service, which holds port 5000"
  $sudo systemctl disable --now docker-registry.service ||
    echo "could not stop docker-registry.service; port 5000 may be taken" >&2
fi
# Likewise the tinyproxy package starts an open proxy on port 8888; the tests start their own.
if [[ " ${missing[*]:-} " == *" tinyproxy "* ]] && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now tinyproxy.service || echo "could not stop tinyproxy.service" >&2
fi

npm ci --no-audit --no-fund
npm run check
