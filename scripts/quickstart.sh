#!/usr/bin/env bash
# `npm run quickstart`: Redis + Docker + the example image jarvis/busybox:latest, then
# `jarvis up` (control plane + a local worker on http://127.0.0.1:8000). No PostgreSQL needed:
# without DATABASE_URL, `jarvis up` keeps its state in embedded PGlite under .jarvis/.
# Extra arguments go to `jarvis up`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JARVIS_LOG_PREFIX=jarvis-quickstart

jarvis_lock
ensure_apt redis-server docker.io busybox-static
ensure_node_modules
ensure_redis
ensure_docker
ensure_example_image
jarvis_unlock

cd "$JARVIS_ROOT"
exec node bin/jarvis.js up "$@"
