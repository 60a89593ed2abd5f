#!/usr/bin/env bash
# scripts/redis/up.sh [STATEDIR] — a private Redis on 127.0.0.1:16379 for the
# tests of a rate limit shared by several processes (examples/redisrate).
# Installs redis-server only when missing (scripts/apt.sh: --no-upgrade; a
# temporary policy-rc.d keeps the package from starting the system Redis),
# runs it with nothing saved to disk, waits for PONG, and writes
# STATEDIR/env (MAILWIRE_REDIS=1, MAILWIRE_REDIS_ADDR). Stop: down.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATEDIR=${1:-/tmp/mailwire-redis}
PORT=16379
log() { printf 'mailwire-redis: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	[[ -s $STATEDIR/redis.log ]] && tail -n 20 "$STATEDIR/redis.log" >&2
	exit 1
}

# shellcheck source=../apt.sh
. "$ROOT/scripts/apt.sh"
if ! command -v redis-server >/dev/null 2>&1; then
	made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# temporary, from mailwire scripts/redis/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt_install_missing redis-server || die "could not install redis-server"
	((made_policy)) && rm -f /usr/sbin/policy-rc.d
	# Had a system Redis been started anyway, it would hold 6379, not ours.
fi

mkdir -p "$STATEDIR"
bash "$ROOT/scripts/redis/down.sh" "$STATEDIR" >/dev/null 2>&1 || true
redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no \
	--daemonize yes --pidfile "$STATEDIR/redis.pid" --logfile "$STATEDIR/redis.log" \
	--dir "$STATEDIR" || die "redis-server did not start"
for _ in $(seq 100); do
	[[ $(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null) == PONG ]] && break
	sleep 0.05
done
[[ $(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null) == PONG ]] || die "no PONG from 127.0.0.1:$PORT"
printf 'MAILWIRE_REDIS=1\nMAILWIRE_REDIS_ADDR=127.0.0.1:%s\n' "$PORT" >"$STATEDIR/env"
log "up: 127.0.0.1:$PORT ($(redis-server --version | cut -d' ' -f3)), env in $STATEDIR/env"
