#!/usr/bin/env bash
# Installs what `make test` needs on a fresh machine. Idempotent: each step
# is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

need_apt=()
command -v kcat >/dev/null || need_apt+=(kcat)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# MinIO built from the Go module proxy once (about 4 minutes), then cached.
if [ ! -x "$CACHE/bin/minio" ] || [ "$(cat "$CACHE/bin/minio.version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
  echo "install-deps: building MinIO $MINIO_VERSION (once, ~4 min)"
  mkdir -p "$CACHE/bin"
  GOBIN="$CACHE/bin" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
  echo "$MINIO_VERSION" > "$CACHE/bin/minio.version"
fi

# Segment's Node SDK, from the committed lock file.
if [ -f testdata/segment-node/package-lock.json ] && [ ! -d testdata/segment-node/node_modules/@segment/analytics-node ]; then
  echo "install-deps: npm ci in testdata/segment-node"
  (cd testdata/segment-node && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "install-deps: ok"
