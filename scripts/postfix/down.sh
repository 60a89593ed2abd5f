#!/usr/bin/env bash
# down.sh [STATEDIR] — stop the Postfix and Dovecot that up.sh started for
# this STATEDIR (default /tmp/mailwire-postfix). Only those: every stop is
# scoped by our config path (postfix -c DIR, dovecot -c FILE), and a recorded
# PID is only killed after checking that the process belongs to STATEDIR.
# Idempotent: exits 0 when nothing is running. STATEDIR itself is kept
# (certificates, Maildirs, logs); delete it by hand for a clean slate.
set -euo pipefail

STATEDIR=${1:-/tmp/mailwire-postfix}
case $STATEDIR in /*) ;; *) STATEDIR=$PWD/$STATEDIR ;; esac
STATEDIR=${STATEDIR%/}

PF_ETC=$STATEDIR/postfix-etc
DC_CONF=$STATEDIR/dovecot/dovecot.conf
PIDS=$STATEDIR/pids

log() { printf 'mailwire-postfix: %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || { log "must run as root"; exit 1; }

# Alive = exists and is not a zombie waiting to be reaped.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(sed 's/.*) //' 2>/dev/null <"/proc/$1/stat") || return 1
	[[ ${st:0:1} != Z ]]
}

recorded_pid() { sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p" "$PIDS" 2>/dev/null | head -n1 || true; }

# True if PID is alive and is the postfix master of our config directory
# (postfix -c DIR exports MAIL_CONFIG=DIR to the master it starts).
is_our_postfix() {
	local pid=$1
	[[ -n $pid ]] && alive "$pid" || return 1
	tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "MAIL_CONFIG=$PF_ETC"
}
# True if PID is alive and is a dovecot master started with our config file.
is_our_dovecot() {
	local pid=$1
	[[ -n $pid ]] && alive "$pid" || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "-c $DC_CONF"
}

wait_gone() { # pid seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

stop_postfix() {
	local pid
	pid=$(sed -n '1s/[^0-9]//gp' "$STATEDIR/queue/pid/master.pid" 2>/dev/null || true)
	[[ -n $pid ]] || pid=$(recorded_pid postfix_master)
	if [[ -f $PF_ETC/main.cf ]] && is_our_postfix "$pid"; then
		log "stopping postfix ($PF_ETC)"
		# Waits up to 5 s for the master, then kills its process group.
		postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
	fi
	# Fallback (config removed, stop failed): signal the master directly.
	for pid in $pid $(recorded_pid postfix_master); do
		if is_our_postfix "$pid"; then
			log "terminating postfix master $pid"
			kill -TERM "$pid" 2>/dev/null || true
			wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

stop_dovecot() {
	local pid
	pid=$(cat "$STATEDIR/dovecot/run/master.pid" 2>/dev/null || true)
	for pid in $pid $(recorded_pid dovecot_master); do
		if is_our_dovecot "$pid"; then
			log "stopping dovecot ($DC_CONF, pid $pid)"
			# The master takes its children (auth, log, ...) down with it.
			kill -TERM "$pid" 2>/dev/null || true
			wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

stop_postfix
stop_dovecot
rm -f "$PIDS" "$STATEDIR/env"
exit 0
