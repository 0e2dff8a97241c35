# shellcheck shell=bash
# Helpers sourced by scripts/test.sh, scripts/quickstart.sh and scripts/bench.sh.
#
# Every ensure_* function is idempotent: when the thing is already there / already answering it
# returns after one cheap probe, so a run with everything up costs well under two seconds.
# Daemons are started detached (own session via setsid or --daemonize, so neither the end of the
# script nor a Ctrl-C of `npm test` stops them); there is no systemd here, each is started by hand.
# `setsid -w` keeps $! pointing at the daemon even when the caller has job control.
#
# Settings (all optional, environment):
#   REDIS_URL              redis://127.0.0.1:6379
#   TEST_DATABASE_URL      postgres://jarvis:jarvis@127.0.0.1:5432/postgres
#   JARVIS_TEST_REGISTRY   127.0.0.1:5000
#   JARVIS_PG_CLUSTER      "15 main"          (Debian cluster ensure_postgres creates/starts)
#   JARVIS_DOCKERD_FLAGS   "--storage-driver=vfs --iptables=false --bridge=none"
#   JARVIS_DOCKERD_PIDFILE /var/run/docker.pid
#   JARVIS_LOG_DIR         /var/log/jarvis when writable, else .jarvis/logs
#   JARVIS_LOG_PREFIX      prefix of progress lines (default "jarvis")

JARVIS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JARVIS_STATE_DIR="${JARVIS_STATE_DIR:-$JARVIS_ROOT/.jarvis}"

: "${REDIS_URL:=redis://127.0.0.1:6379}"
: "${TEST_DATABASE_URL:=postgres://jarvis:jarvis@127.0.0.1:5432/postgres}"
: "${JARVIS_TEST_REGISTRY:=127.0.0.1:5000}"
: "${JARVIS_PG_CLUSTER:=15 main}"
: "${JARVIS_DOCKERD_FLAGS:=--storage-driver=vfs --iptables=false --bridge=none}"
: "${JARVIS_DOCKERD_PIDFILE:=/var/run/docker.pid}"

JARVIS_TEST_IMAGE="jarvis-test/busybox:latest"
JARVIS_EXAMPLE_IMAGE="jarvis/busybox:latest"
JARVIS_REMOTE_REPO="jarvis-test/remote-busybox"

# ---------------------------------------------------------------------------------------------
# small utilities

jarvis_log() { printf '%s: %s\n' "${JARVIS_LOG_PREFIX:-jarvis}" "$*" >&2; }

# No step may fail silently. Every script that sources this file runs under `set -Eeuo pipefail`
# (-E: the ERR trap also fires inside functions and subshells). When a command fails and errexit
# is about to end the script, this prints which step was running, the command, and where it is,
# then exits with the command's status. Commands whose non-zero exit is normal (dpkg-query of an
# absent package, grep without a match, `docker image inspect` of an absent image) are written
# as `if …`, `… || true` or `|| rc=$?`, which neither trips errexit nor this trap.
JARVIS_STEP=""
jarvis_on_err() {
  local rc=$1 line=$2 cmd=$3 src=${4:-}
  trap - ERR
  # Inside a subshell or command substitution, leave the report to the script itself, which sees
  # the failure next (once, with the whole command): exit with the same status.
  ((BASH_SUBSHELL == 0)) || exit "$rc"
  printf '%s: ERROR: %s failed (exit %s)\n  command: %s\n  at: %s line %s\n' \
    "${JARVIS_LOG_PREFIX:-jarvis}" "${JARVIS_STEP:-setup}" "$rc" "$cmd" "${src:-$0}" "$line" >&2
  exit "$rc"
}
set -E
trap 'jarvis_on_err $? $LINENO "$BASH_COMMAND" "${BASH_SOURCE[0]:-}"' ERR

# jarvis_step NAME CMD... : run one setup step, saying what it is and, for steps that took more
# than a few seconds, how long it took (so a first run on a fresh machine shows its progress).
jarvis_step() {
  local name=$1; shift
  local started=$SECONDS
  JARVIS_STEP=$name
  "$@"
  local took=$((SECONDS - started))
  ((took < 3)) || jarvis_log "$name: done in ${took}s"
  JARVIS_STEP=""
}

jarvis_die() {
  trap - ERR
  printf '%s: ERROR: %s%s\n' "${JARVIS_LOG_PREFIX:-jarvis}" "${JARVIS_STEP:+$JARVIS_STEP: }" "$*" >&2
  exit 1
}

# ensure_free_space MB PATH... : stop, naming the folder and what to do, when the file system of a
# PATH has less than MB megabytes free. A full disk otherwise shows up far from its cause (the test
# suite failed at collection with nothing said about space).
ensure_free_space() {
  local need=$1 path free mount; shift
  for path in "$@"; do
    [ -e "$path" ] || continue
    read -r free mount < <(df -Pk -- "$path" | awk 'NR == 2 { print int($4 / 1024), $6 }')
    if [ -n "${free:-}" ] && ((free < need)); then
      jarvis_die "only ${free} MB free on ${mount} (for ${path}); this needs about ${need} MB. Free some space there (earlier test runs' folders: ${TMPDIR:-/tmp}/jarvis-tests-*; stopped containers and images: docker system prune) and run again."
    fi
  done
}

jarvis_is_root() { [ "${EUID:-$(id -u)}" -eq 0 ]; }

# Directory for daemon logs: /var/log/jarvis when we may write there, else .jarvis/logs.
jarvis_log_dir() {
  if [ -z "${JARVIS_LOG_DIR:-}" ]; then
    if mkdir -p /var/log/jarvis 2>/dev/null && [ -w /var/log/jarvis ]; then
      JARVIS_LOG_DIR=/var/log/jarvis
    else
      JARVIS_LOG_DIR="$JARVIS_STATE_DIR/logs"
    fi
  fi
  mkdir -p "$JARVIS_LOG_DIR"
  printf '%s\n' "$JARVIS_LOG_DIR"
}

# jarvis_wait SECONDS CMD... : poll CMD every 0.25 s until it succeeds; 1 on timeout.
jarvis_wait() {
  local seconds=$1; shift
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

# Last lines of a log file, indented, for error messages (info-level lines of logrus-style logs
# such as dockerd's are skipped: its failure reason drowns in gRPC chatter otherwise).
jarvis_log_tail() {
  local file=$1
  if [ -s "$file" ]; then
    printf '\n--- last lines of %s ---\n' "$file"
    tail -n 400 "$file" | { grep -v 'level=info' || true; } | tail -n "${2:-25}" | sed 's/^/  /'
  else
    printf '\n(%s is empty or missing)\n' "$file"
  fi
}

jarvis_is_local_host() {
  case "$1" in
    127.*|localhost|::1|'[::1]') return 0 ;;
    *) return 1 ;;
  esac
}

# Serialise the setup phase between concurrent runs (two `npm test` at once must not both run
# `npm ci`, apt-get or start the same daemon). Held on fd 9; jarvis_unlock releases it, and every
# daemon we start gets `9>&-` so none of them keeps the lock alive.
jarvis_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  local lock
  lock="${TMPDIR:-/tmp}/jarvis-setup-$(id -u).lock"
  exec 9>>"$lock"
  if ! flock -n 9; then
    jarvis_log "another Jarvis setup is running; waiting for it ($lock)…"
    flock -w 900 9 || jarvis_log "warning: still locked after 15 min; continuing anyway"
  fi
}

jarvis_unlock() {
  { flock -u 9; exec 9>&-; } 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# ensure_apt PKG... : install the Debian packages that are missing.

ensure_apt() {
  (($# > 0)) || return 0
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    # Not Debian: the ensure_* functions below still work if the services are provided otherwise,
    # and each names what it lacks.
    jarvis_log "no dpkg-query/apt-get here: cannot check or install $*; the next steps say what is missing"
    return 0
  fi

  # dpkg-query exits 1 when any named package is unknown to dpkg (a fresh machine: "no packages
  # found matching redis-server"); what it prints for the known ones is still right, so its
  # status is ignored and only its output read.
  local installed missing=() pkg listing
  listing=$(dpkg-query -W -f='${Package}=${db:Status-Abbrev}\n' "$@" 2>/dev/null || true)
  installed=" $(awk -F= '$2 ~ /^ii/ { printf "%s ", $1 }' <<<"$listing") "
  for pkg in "$@"; do
    [[ $installed == *" ${pkg%%:*} "* ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0

  if ! jarvis_is_root; then
    jarvis_die "missing Debian packages: ${missing[*]}
Install them first (as root), then run this again:
    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi

  export DEBIAN_FRONTEND=noninteractive
  local logdir aptlog
  logdir=$(jarvis_log_dir)
  aptlog="$logdir/apt.log"
  if [ -z "${JARVIS_APT_UPDATED:-}" ]; then
    jarvis_log "apt-get update (log $aptlog)…"
    if ! apt-get -o DPkg::Lock::Timeout=300 update -qq >>"$aptlog" 2>&1 9>&-; then
      jarvis_die "apt-get update failed; the packages still missing are: ${missing[*]}$(jarvis_log_tail "$aptlog" 15)"
    fi
    JARVIS_APT_UPDATED=1
  fi
  jarvis_log "installing ${missing[*]} (apt-get, log $aptlog; on a fresh machine about 1 minute with a near mirror, a few on a slow link)…"
  # Keep apt from starting the services it installs (only when the machine has no policy-rc.d
  # of its own): the scripts start every service they need themselves, with the settings this
  # machine needs (dockerd with Debian's defaults fails without iptables/overlay; Debian's
  # docker-registry would squat :5000 with htpasswd auth; its prometheus would take :9090 and a
  # node exporter :9100). The observability tests run their own Prometheus on a free port.
  local policy=${JARVIS_POLICY_RC_D:-/usr/sbin/policy-rc.d}
  local rc=0
  (
    if [ ! -e "$policy" ]; then
      trap 'rm -f "$policy"' EXIT
      printf '#!/bin/sh\n# Temporary, written by jarvis scripts/lib.sh during apt-get install; removed right after.\nexit 101\n' >"$policy"
      chmod 755 "$policy"
    fi
    # No question can wait on a terminal nobody sees (the output goes to apt.log): a changed
    # config file of a package installed again keeps the local version.
    NEEDRESTART_SUSPEND=1 apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      install -y -qq "${missing[@]}" </dev/null >>"$aptlog" 2>&1 9>&-
  ) || rc=$?
  if ((rc != 0)); then
    jarvis_die "apt-get install failed (exit $rc); these packages are still missing: ${missing[*]}$(jarvis_log_tail "$aptlog" 15)
Install them by hand (apt-get install -y ${missing[*]}) and run this again."
  fi
  jarvis_log "installed ${missing[*]}"
}

# ---------------------------------------------------------------------------------------------
# ensure_node_modules: npm ci when node_modules is missing or older than package-lock.json.

ensure_node_modules() {
  command -v node >/dev/null 2>&1 || jarvis_die "node is not installed; Jarvis needs Node.js 20 or newer (Debian 12's nodejs is 18: take Node 20 from nodejs.org or NodeSource)"
  command -v npm >/dev/null 2>&1 || jarvis_die "npm is not installed; Jarvis needs Node.js 20 or newer with npm (Debian 12's nodejs is 18: take Node 20 from nodejs.org or NodeSource)"
  local marker="$JARVIS_ROOT/node_modules/.package-lock.json"
  if [ ! -d "$JARVIS_ROOT/node_modules" ] || [ ! -f "$marker" ] \
    || [ "$JARVIS_ROOT/package-lock.json" -nt "$marker" ]; then
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    ((major >= 20)) || jarvis_die "Node.js $(node --version) is too old; Jarvis needs Node.js 20 or newer (Debian 12's nodejs is 18: take Node 20 from nodejs.org or NodeSource)"
    jarvis_log "installing npm dependencies (npm ci)…"
    local out rc
    out=$(mktemp)
    rc=0
    (cd "$JARVIS_ROOT" && npm ci --no-audit --no-fund 9>&-) >"$out" 2>&1 || rc=$?
    # grep -v exits 1 when every line is filtered out (or npm printed nothing): not an error.
    if ((rc == 0)); then
      { grep -v 'Unknown .*config' "$out" || true; } | tail -n 5 >&2
    else
      { grep -v 'Unknown .*config' "$out" || true; } | tail -n 40 >&2
      rm -f "$out"
      jarvis_die "npm ci failed"
    fi
    rm -f "$out"
  fi
}

# ---------------------------------------------------------------------------------------------
# ensure_redis: answer PING on $REDIS_URL, starting a throwaway (no persistence) redis if needed.

jarvis_redis_ping() {
  [ "$(timeout 5 redis-cli -u "$REDIS_URL" ping 2>/dev/null)" = PONG ]
}

ensure_redis() {
  command -v redis-cli >/dev/null 2>&1 || jarvis_die "redis-cli not found (Debian package redis-tools / redis-server)"
  jarvis_redis_ping && return 0

  local host=127.0.0.1 port=6379
  if [[ $REDIS_URL =~ ^rediss?://([^@/]*@)?(\[[^]]*\]|[^:/]+)(:([0-9]+))? ]]; then
    host=${BASH_REMATCH[2]}
    port=${BASH_REMATCH[4]:-6379}
  fi
  jarvis_is_local_host "$host" \
    || jarvis_die "Redis at $REDIS_URL does not answer PING (not a local address, so not starting one)"
  command -v redis-server >/dev/null 2>&1 \
    || jarvis_die "Redis is not running and redis-server is not installed (apt-get install redis-server)"

  local logdir dir log
  logdir=$(jarvis_log_dir)
  log="$logdir/redis-$port.log"
  dir="$JARVIS_STATE_DIR/redis"
  mkdir -p "$dir"
  jarvis_log "starting Redis on 127.0.0.1:$port (log $log)…"
  redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --logfile "$log" --pidfile "$dir/redis-$port.pid" </dev/null >/dev/null 9>&- \
    || jarvis_die "redis-server failed to start$(jarvis_log_tail "$log")"
  jarvis_wait 20 jarvis_redis_ping \
    || jarvis_die "Redis did not answer PING on $REDIS_URL within 20 s$(jarvis_log_tail "$log")"
}

# ---------------------------------------------------------------------------------------------
# ensure_docker: a Docker engine answering the docker CLI.

# The CLI here (28.x) is newer than Debian's engine (20.10, API 1.41). Recent CLIs negotiate the
# version down by themselves; if one ever refuses ("client version X is too new. Maximum supported
# API version is Y") we pin DOCKER_API_VERSION to Y.
jarvis_docker_ping() {
  local err
  if err=$(timeout 20 docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
    return 0
  fi
  if [[ $err =~ [Mm]aximum\ supported\ API\ version\ is\ ([0-9]+\.[0-9]+) ]]; then
    export DOCKER_API_VERSION=${BASH_REMATCH[1]}
    timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && return 0
  fi
  return 1
}

ensure_docker() {
  command -v docker >/dev/null 2>&1 || jarvis_die "the docker CLI is not installed (apt-get install docker.io)"
  jarvis_docker_ping && return 0

  if ! jarvis_is_root; then
    jarvis_die "the Docker daemon does not answer ($(docker version 2>&1 | tail -n 1)).
Start it (as root: dockerd --storage-driver=vfs --iptables=false --bridge=none) or add your user to the docker group."
  fi
  command -v dockerd >/dev/null 2>&1 || jarvis_die "Docker is not running and dockerd is not installed (apt-get install docker.io)"

  local logdir log pid=
  logdir=$(jarvis_log_dir)
  log="$logdir/dockerd.log"
  [ -r "$JARVIS_DOCKERD_PIDFILE" ] && pid=$(cat "$JARVIS_DOCKERD_PIDFILE" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd* ]]; then
    jarvis_log "dockerd (pid $pid) is running but not answering yet; waiting for it…"
  else
    # Without systemd nothing mounts the cgroup hierarchy on some machines; dockerd needs it.
    if command -v cgroupfs-mount >/dev/null 2>&1 && command -v mountpoint >/dev/null 2>&1 \
      && ! mountpoint -q /sys/fs/cgroup; then
      cgroupfs-mount >/dev/null 2>&1 || true
    fi
    jarvis_log "starting dockerd $JARVIS_DOCKERD_FLAGS (log $log)…"
    printf '\n=== %s: dockerd started by jarvis scripts/lib.sh ===\n' "$(date -Is)" >>"$log"
    # shellcheck disable=SC2086  # the flags are meant to be word-split
    setsid -w nohup dockerd $JARVIS_DOCKERD_FLAGS --pidfile "$JARVIS_DOCKERD_PIDFILE" \
      </dev/null >>"$log" 2>&1 9>&- &
    pid=$!
  fi
  local deadline=$((SECONDS + 60))
  until jarvis_docker_ping; do
    if ! kill -0 "$pid" 2>/dev/null; then
      jarvis_docker_ping && break  # a concurrent start won the race; theirs answers
      jarvis_die "dockerd exited during startup$(jarvis_log_tail "$log" 15)"
    fi
    ((SECONDS < deadline)) || jarvis_die "dockerd did not answer within 60 s$(jarvis_log_tail "$log" 15)"
    sleep 0.5
  done
  jarvis_log "Docker is up (engine $(docker version --format '{{.Server.Version}}' 2>/dev/null))"
}

# ---------------------------------------------------------------------------------------------
# ensure_postgres: PostgreSQL answering $TEST_DATABASE_URL with a password role that can
# CREATE DATABASE (the test suite creates a throwaway database per test file).

jarvis_pg_url_ok() {
  PGCONNECT_TIMEOUT=3 timeout 10 psql "$TEST_DATABASE_URL" -XAtqc 'select 1' >/dev/null 2>&1
}

ensure_postgres() {
  export TEST_DATABASE_URL
  command -v psql >/dev/null 2>&1 || jarvis_die "psql not found (apt-get install postgresql)"
  jarvis_pg_url_ok && return 0

  local user pass host port
  [[ $TEST_DATABASE_URL =~ ^postgres(ql)?://([^:@/]+)(:([^@/]*))?@([^:/]+)(:([0-9]+))?/ ]] \
    || jarvis_die "cannot parse TEST_DATABASE_URL=$TEST_DATABASE_URL (expected postgres://user:password@host:port/db)"
  user=${BASH_REMATCH[2]} pass=${BASH_REMATCH[4]} host=${BASH_REMATCH[5]} port=${BASH_REMATCH[7]:-5432}
  jarvis_is_local_host "$host" \
    || jarvis_die "PostgreSQL at $TEST_DATABASE_URL does not answer (not a local address, so not setting one up)"
  if ! jarvis_is_root || ! command -v pg_lsclusters >/dev/null 2>&1; then
    jarvis_die "cannot log in to $TEST_DATABASE_URL.
Start PostgreSQL and create the role, e.g. as root:
    pg_ctlcluster $JARVIS_PG_CLUSTER start
    su postgres -c \"psql -c \\\"CREATE ROLE $user LOGIN SUPERUSER CREATEDB PASSWORD '$pass'\\\"\"
or point TEST_DATABASE_URL at a server where you can CREATE DATABASE."
  fi

  local version name
  read -r version name <<<"$JARVIS_PG_CLUSTER"
  local line status cport
  line=$(pg_lsclusters -h "$version" "$name" 2>/dev/null || true)
  if [ -z "$line" ]; then
    jarvis_log "creating PostgreSQL cluster $version/$name on port $port…"
    pg_createcluster "$version" "$name" --port "$port" >/dev/null 9>&- \
      || jarvis_die "pg_createcluster $version $name failed"
    line=$(pg_lsclusters -h "$version" "$name")
  fi
  cport=$(awk '{print $3}' <<<"$line")
  status=$(awk '{print $4}' <<<"$line")
  [ "$cport" = "$port" ] \
    || jarvis_die "cluster $version/$name listens on port $cport but TEST_DATABASE_URL uses $port"

  if [[ $status == down* ]]; then
    jarvis_log "starting PostgreSQL $version/$name on port $port…"
    install -d -o postgres -g postgres -m 2775 /var/run/postgresql
    # A concurrent run may have started it already; readiness below is what counts.
    setsid -w pg_ctlcluster "$version" "$name" start 9>&- || true
  fi
  local pglog="/var/log/postgresql/postgresql-$version-$name.log"
  jarvis_wait 30 pg_isready -q -h /var/run/postgresql -p "$port" \
    || jarvis_die "PostgreSQL $version/$name did not become ready within 30 s$(jarvis_log_tail "$pglog")"

  jarvis_pg_url_ok && return 0
  jarvis_log "creating PostgreSQL role '$user' (LOGIN SUPERUSER CREATEDB, password auth)…"
  local qpass=${pass//\'/\'\'} quser=${user//\"/\"\"} luser=${user//\'/\'\'}
  (cd / && runuser -u postgres -- psql -p "$port" -XAtq -v ON_ERROR_STOP=1 -c "
    DO \$\$BEGIN
      IF EXISTS (SELECT FROM pg_roles WHERE rolname = '$luser') THEN
        ALTER ROLE \"$quser\" LOGIN SUPERUSER CREATEDB PASSWORD '$qpass';
      ELSE
        CREATE ROLE \"$quser\" LOGIN SUPERUSER CREATEDB PASSWORD '$qpass';
      END IF;
    END\$\$;") >/dev/null || true # a concurrent run may have created it; the login check decides
  jarvis_wait 10 jarvis_pg_url_ok || jarvis_die "still cannot log in with $TEST_DATABASE_URL.
$(PGCONNECT_TIMEOUT=3 psql "$TEST_DATABASE_URL" -XAtqc 'select 1' 2>&1 | tail -n 3)
Check /etc/postgresql/$version/$name/pg_hba.conf allows password (scram-sha-256/md5) logins from $host."
}

# ---------------------------------------------------------------------------------------------
# Busybox images built from the host's static busybox (no registry / internet needed).

# The image's build, as a label: an image from an older build (e.g. one whose / only root could
# enter, so tasks running as the non-root user 65534 could not start) is rebuilt.
JARVIS_BUSYBOX_BUILD=2

# jarvis_image_build REF: the build label of a local image, or nothing when absent / unlabelled.
jarvis_image_build() {
  docker image inspect --format '{{index .Config.Labels "jarvis.busybox-build"}}' "$1" 2>/dev/null || true
}

# ensure_busybox_image REF... : make every REF exist locally, of the current build (build once,
# tag the others).
ensure_busybox_image() {
  local ref have=
  for ref in "$@"; do
    if [ "$(jarvis_image_build "$ref")" = "$JARVIS_BUSYBOX_BUILD" ]; then have=$ref; break; fi
  done
  if [ -z "$have" ]; then
    local busybox=/bin/busybox
    [ -x "$busybox" ] || busybox=$(command -v busybox 2>/dev/null || true)
    { [ -n "$busybox" ] && [ -x "$busybox" ]; } || jarvis_die "busybox not found (apt-get install busybox-static)"
    have=$1
    jarvis_log "building image $have from $busybox…"
    local tmp app
    tmp=$(mktemp -d)
    mkdir -p "$tmp/bin" "$tmp/etc" "$tmp/root" "$tmp/tmp" "$tmp/proc" "$tmp/sys" "$tmp/dev"
    # mktemp -d makes a 0700 directory, which becomes the image's /: tasks run as user 65534
    # (worker.security.user) must be able to enter it.
    chmod 755 "$tmp"
    chmod 1777 "$tmp/tmp"
    cp "$busybox" "$tmp/bin/busybox"
    # Only the applets tests and examples use: with the vfs storage driver every container
    # copies the whole image, and each link costs time on every container create.
    for app in sh echo sleep cat ls printf true false yes head tail seq env date kill wc tr dd \
      test [ sed grep awk touch mkdir rm cp mv id hostname uname pwd sort uniq cut tee; do
      ln -sf busybox "$tmp/bin/$app"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tmp/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/etc/group"
    if ! tar --numeric-owner --owner=0 --group=0 -C "$tmp" -c . \
      | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' -c "LABEL jarvis.busybox-build=$JARVIS_BUSYBOX_BUILD" - "$have" >/dev/null; then
      rm -rf "$tmp"
      jarvis_die "docker import of $have failed"
    fi
    rm -rf "$tmp"
    # A dynamically linked busybox (Debian package "busybox") cannot run in an empty image.
    docker run --rm --network none --user 65534:65534 "$have" true >/dev/null 2>&1 || {
      docker rmi "$have" >/dev/null 2>&1
      jarvis_die "image $have does not run; $busybox must be statically linked (apt-get install busybox-static)"
    }
  fi
  local id
  id=$(docker image inspect --format '{{.Id}}' "$have")
  for ref in "$@"; do
    [ "$ref" = "$have" ] && continue
    [ "$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)" = "$id" ] && continue
    docker tag "$have" "$ref" || jarvis_die "docker tag $have $ref failed"
  done
}

ensure_test_images() { ensure_busybox_image "$JARVIS_TEST_IMAGE" "$JARVIS_EXAMPLE_IMAGE"; }
ensure_example_image() { ensure_busybox_image "$JARVIS_EXAMPLE_IMAGE"; }

# ---------------------------------------------------------------------------------------------
# ensure_registry: a plain-HTTP registry on $JARVIS_TEST_REGISTRY holding
# jarvis-test/remote-busybox:latest, and NO local copy of that tag, so tests do a real pull.

jarvis_registry_up() { curl -sf -m 3 -o /dev/null "http://$JARVIS_TEST_REGISTRY/v2/"; }

ensure_registry() {
  export JARVIS_TEST_REGISTRY
  command -v curl >/dev/null 2>&1 || jarvis_die "curl not found (apt-get install curl)"
  local addr=$JARVIS_TEST_REGISTRY
  local remote="$addr/$JARVIS_REMOTE_REPO:latest"

  if ! jarvis_registry_up; then
    local code
    code=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://$addr/v2/" 2>/dev/null || true)
    if [ -n "$code" ] && [ "$code" != 000 ]; then
      jarvis_die "something else answers on http://$addr/v2/ (HTTP $code). If it is Debian's docker-registry
service (htpasswd auth, /etc/docker/registry/config.yml), stop it: /etc/init.d/docker-registry stop
— or use another address: JARVIS_TEST_REGISTRY=127.0.0.1:5001 npm test"
    fi
    jarvis_is_local_host "${addr%:*}" || jarvis_die "registry $addr does not answer (not local, so not starting one)"
    local bin
    bin=$(command -v docker-registry 2>/dev/null || true)
    [ -n "$bin" ] || jarvis_die "docker-registry not found (apt-get install docker-registry)"

    local dir="$JARVIS_STATE_DIR/registry" logdir log
    logdir=$(jarvis_log_dir)
    log="$logdir/registry-${addr##*:}.log"
    mkdir -p "$dir/data"
    # Format: distribution 2.8 (Debian's docker-registry), same shape as the package's
    # /etc/docker/registry/config.yml minus its htpasswd auth section.
    cat >"$dir/config.yml" <<EOF
# Written by scripts/lib.sh (ensure_registry) on every start; edits are overwritten.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
    jarvis_log "starting docker registry on $addr (log $log)…"
    printf '\n=== %s: registry started by jarvis scripts/lib.sh ===\n' "$(date -Is)" >>"$log"
    setsid -w nohup "$bin" serve "$dir/config.yml" </dev/null >>"$log" 2>&1 9>&- &
    echo $! >"$dir/registry.pid"
    jarvis_wait 20 jarvis_registry_up \
      || jarvis_die "the registry did not answer on http://$addr/v2/ within 20 s$(jarvis_log_tail "$log")"
  fi

  # Pushed again when the registry's copy is not the current test image (an older build).
  ensure_busybox_image "$JARVIS_TEST_IMAGE"
  local want held
  want=$(docker image inspect --format '{{.Id}}' "$JARVIS_TEST_IMAGE")
  held=$(curl -sf -m 5 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$addr/v2/$JARVIS_REMOTE_REPO/manifests/latest" 2>/dev/null | grep -o 'sha256:[0-9a-f]*' | head -n 1 || true)
  if [ "$held" != "$want" ]; then
    jarvis_log "pushing $remote…"
    docker tag "$JARVIS_TEST_IMAGE" "$remote" || jarvis_die "docker tag $JARVIS_TEST_IMAGE $remote failed"
    local out
    out=$(docker push "$remote" 2>&1) || jarvis_die "docker push $remote failed:
$out"
  fi
  # Untag the local copy (layers are shared with jarvis-test/busybox, so this is cheap).
  if docker image inspect "$remote" >/dev/null 2>&1; then
    docker rmi "$remote" >/dev/null 2>&1 || jarvis_log "warning: could not remove local $remote"
  fi
}
