#!/usr/bin/env bash
# scripts/unbound/up.sh [STATEDIR] — a validating resolver for the DANE
# tests: Unbound on 127.0.0.1:15353, which trusts the test zone dane.test.
# by its key (internal/dnstest/testdata/dane.test.key, its trust anchor)
# and asks for it the tests' own authoritative server on 127.0.0.1:15354
# (internal/dnstest, started by the tests). So a DANE test gets the AD
# flag only for what the zone truly signed, and SERVFAIL for a forged,
# unsigned answer: DNSSEC validated by a real resolver, not by us.
#
# Installs unbound only when missing (scripts/apt.sh: --no-upgrade; a
# temporary policy-rc.d keeps the package from starting the system's
# resolver), caches nothing for long (TTLs of 1 s, no aggressive NSEC),
# and writes STATEDIR/env (MAILWIRE_UNBOUND, MAILWIRE_DNSSEC_ZONE).
# Stop: down.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATEDIR=${1:-/tmp/mailwire-unbound}
PORT=15353
ZONE_PORT=15354
log() { printf 'mailwire-unbound: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	[[ -s $STATEDIR/unbound.log ]] && tail -n 20 "$STATEDIR/unbound.log" >&2
	exit 1
}

# shellcheck source=../apt.sh
. "$ROOT/scripts/apt.sh"
if ! command -v unbound >/dev/null 2>&1; then
	made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\n# temporary, from mailwire scripts/unbound/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "installing unbound"
	apt_install_missing unbound || die "could not install unbound"
	((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi

read -r name _ _ _ flags proto alg key < <(grep -v '^;' "$ROOT/internal/dnstest/testdata/dane.test.key")
[[ $name == dane.test. && $flags == 257 ]] || die "unexpected key file: $name $flags"

mkdir -p "$STATEDIR"
STATEDIR=$(cd "$STATEDIR" && pwd)
bash "$ROOT/scripts/unbound/down.sh" "$STATEDIR" >/dev/null 2>&1 || true
cat >"$STATEDIR/unbound.conf" <<CONF
server:
	interface: 127.0.0.1
	port: $PORT
	do-ip6: no
	so-reuseport: no
	username: ""
	chroot: ""
	directory: "$STATEDIR"
	pidfile: "$STATEDIR/unbound.pid"
	logfile: "$STATEDIR/unbound.log"
	use-syslog: no
	verbosity: 1
	val-log-level: 2
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	qname-minimisation: no
	aggressive-nsec: no
	cache-max-ttl: 1
	cache-max-negative-ttl: 1
	module-config: "validator iterator"
	harden-dnssec-stripped: yes
	val-permissive-mode: no
	local-zone: "test." nodefault
	trust-anchor: "dane.test. DNSKEY $flags $proto $alg $key"
remote-control:
	control-enable: no
stub-zone:
	name: "dane.test."
	stub-addr: 127.0.0.1@$ZONE_PORT
CONF
unbound-checkconf "$STATEDIR/unbound.conf" >/dev/null || die "unbound-checkconf refused $STATEDIR/unbound.conf"
unbound -c "$STATEDIR/unbound.conf" || die "unbound did not start"
for _ in $(seq 100); do
	[[ -s $STATEDIR/unbound.pid ]] && grep -q "start of service" "$STATEDIR/unbound.log" 2>/dev/null && break
	sleep 0.05
done
grep -q "start of service" "$STATEDIR/unbound.log" 2>/dev/null || die "unbound did not say it serves"
printf 'MAILWIRE_UNBOUND=127.0.0.1:%s\nMAILWIRE_DNSSEC_ZONE=127.0.0.1:%s\n' "$PORT" "$ZONE_PORT" >"$STATEDIR/env"
log "up: 127.0.0.1:$PORT ($(unbound -V 2>/dev/null | head -n1)), dane.test. from 127.0.0.1:$ZONE_PORT, env in $STATEDIR/env"
