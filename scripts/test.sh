#!/usr/bin/env bash
# `npm test`: bring up everything the test suite talks to, then run vitest.
#   Redis (REDIS_URL), PostgreSQL 15 (TEST_DATABASE_URL), a Docker engine, the local image
#   jarvis-test/busybox:latest, and a plain-HTTP registry (JARVIS_TEST_REGISTRY) holding
#   jarvis-test/remote-busybox:latest. Installs missing Debian packages when run as root,
#   among them prometheus (prometheus + promtool, for the dashboard and alert-rule tests) and
#   chromium (the queue board's browser test); the tests start those themselves. python3 and
#   python3-venv: the FastAPI reference app of the parity test, in .jarvis/pyref
#   (scripts/reference-app.sh; about 30 s the first time, a file check afterwards).
# Extra arguments go to vitest: `npm test -- test/tasks.e2e.test.ts -t "cancels"`, or
# `npm test -- --project e2e` for the end-to-end tier alone (`npm run test:unit` needs no service).
set -Eeuo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
JARVIS_LOG_PREFIX=jarvis-test

jarvis_lock
# A run's own folders (databases, logs, browsers) take up to about 1 GB at a time, under TMPDIR.
jarvis_step "free disk space" ensure_free_space "${JARVIS_MIN_FREE_MB:-2048}" "${TMPDIR:-/tmp}" "$JARVIS_ROOT"
jarvis_step "Debian packages" ensure_apt redis-server postgresql docker.io busybox-static docker-registry curl procps prometheus chromium python3 python3-venv
jarvis_step "npm dependencies" ensure_node_modules
jarvis_step "Redis" ensure_redis
jarvis_step "PostgreSQL" ensure_postgres
jarvis_step "Docker engine" ensure_docker
jarvis_step "test images" ensure_test_images
jarvis_step "local registry" ensure_registry
jarvis_step "FastAPI reference app" bash "$JARVIS_ROOT/scripts/reference-app.sh" >/dev/null
jarvis_unlock

export REDIS_URL TEST_DATABASE_URL JARVIS_TEST_REGISTRY
jarvis_log "REDIS_URL=$REDIS_URL TEST_DATABASE_URL=$TEST_DATABASE_URL JARVIS_TEST_REGISTRY=$JARVIS_TEST_REGISTRY"
cd "$JARVIS_ROOT"
exec npx vitest run "$@"
