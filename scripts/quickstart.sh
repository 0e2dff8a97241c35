#!/usr/bin/env bash
# `npm run quickstart`: Redis + Docker + the example image jarvis/busybox:latest, then
# `jarvis up` (control plane + a local worker on http://127.0.0.1:8000). No PostgreSQL server to set
# up: without DATABASE_URL, `jarvis up` runs its own private one (the postgresql package's binaries)
# with its state under .jarvis/ (src/state/local-postgres.ts).
# Extra arguments go to `jarvis up`.
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JARVIS_LOG_PREFIX=jarvis-quickstart

jarvis_lock
jarvis_step "Debian packages" ensure_apt redis-server postgresql docker.io busybox-static curl
jarvis_step "npm dependencies" ensure_node_modules
jarvis_step "compiled JavaScript" node "$JARVIS_ROOT/bin/compile.js" --if-stale
jarvis_step "Redis" ensure_redis
jarvis_step "Docker engine" ensure_docker
jarvis_step "example image" ensure_example_image
jarvis_unlock

cd "$JARVIS_ROOT"
exec node bin/jarvis.js up "$@"
