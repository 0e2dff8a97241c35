#!/usr/bin/env bash
# `npm run bench`: the same services as the tests (no registry), then bench/run.ts.
# Extra arguments go to bench/run.ts.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JARVIS_LOG_PREFIX=jarvis-bench

jarvis_lock
ensure_apt redis-server postgresql docker.io busybox-static
ensure_node_modules
ensure_redis
ensure_postgres
ensure_docker
ensure_test_images
jarvis_unlock

export REDIS_URL TEST_DATABASE_URL
cd "$JARVIS_ROOT"
exec npx tsx bench/run.ts "$@"
