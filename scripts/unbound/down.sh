#!/usr/bin/env bash
# scripts/unbound/down.sh [STATEDIR] — stops the Unbound of up.sh; a no-op
# when none runs.
set -uo pipefail
STATEDIR=${1:-/tmp/mailwire-unbound}
pidfile=$STATEDIR/unbound.pid
if [[ -f $pidfile ]]; then
	pid=$(cat "$pidfile")
	if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == unbound* ]]; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
fi
rm -f "$STATEDIR/env"
exit 0
