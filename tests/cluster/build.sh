#!/usr/bin/env bash
# Builds the test control plane (tests/cluster) once per source version and prints the
# binary's path. The binary is cached outside the clone (TESTCLUSTER_CACHE, default
# ~/.cache/awslbc-testcluster), keyed by the hash of this module's sources, so a fresh
# clone on the same machine and every later run reuse it; Go's own build cache makes a
# rebuild after a small change cheap.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=v1.37.2
cache="${TESTCLUSTER_CACHE:-$HOME/.cache/awslbc-testcluster}"
key=$(cd "$here" && cat go.mod go.sum *.go build.sh | sha256sum | cut -c1-16)
bin="$cache/$version-$key/testcluster"
if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$bin")"
  start=$(date +%s)
  echo "building the test control plane (kube-apiserver $version, etcd, kube-controller-manager) into $bin" >&2
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
  done
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  # Older builds of this cache are of no further use.
  find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$version-$key" -exec rm -rf {} +
  echo "built in $(( $(date +%s) - start )) s" >&2
fi
echo "$bin"
