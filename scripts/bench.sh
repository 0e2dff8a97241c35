#!/usr/bin/env bash
# `npm run bench`: the same services as the tests (no registry), then bench/run.ts.
# Extra arguments go to bench/run.ts. `npm run bench -- --compare A.json B.json` (and --help)
# read files only: they start no service.
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JARVIS_LOG_PREFIX=jarvis-bench

for arg in "$@"; do
  case "$arg" in
    --compare | --help | -h) exec npx tsx "$JARVIS_ROOT/bench/run.ts" "$@" ;;
  esac
done

jarvis_lock
jarvis_step "Debian packages" ensure_apt redis-server postgresql docker.io busybox-static
jarvis_step "npm dependencies" ensure_node_modules
jarvis_step "Redis" ensure_redis
jarvis_step "PostgreSQL" ensure_postgres
jarvis_step "Docker engine" ensure_docker
jarvis_step "test images" ensure_test_images
jarvis_unlock

export REDIS_URL TEST_DATABASE_URL
cd "$JARVIS_ROOT"
exec npx tsx bench/run.ts "$@"
