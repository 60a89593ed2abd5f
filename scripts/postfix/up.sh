#!/usr/bin/env bash
# up.sh [STATEDIR] — install (if needed) and start a private Postfix + Dovecot
# (SASL only) for mailwire's integration tests. Idempotent.
#
# Default STATEDIR: /tmp/mailwire-postfix. Everything this script creates lives
# under STATEDIR; /etc/postfix and /etc/dovecot are never modified.
#
# Layout:
#   STATEDIR/tls/{ca.pem,ca.key,server.pem,server.key}  test CA + "localhost" cert
#   STATEDIR/postfix-etc/{main.cf,master.cf,...}         our Postfix config dir
#   STATEDIR/queue/  STATEDIR/data/                      queue_directory, data_directory
#   STATEDIR/dovecot/{dovecot.conf,users,run/,state/}    Dovecot (auth only)
#   STATEDIR/maildir/{new,cur,tmp}                       mail for *@mailwire.test
#   STATEDIR/relay-maildir/{new,cur,tmp}                 mail for other domains
#   STATEDIR/postfix.log  STATEDIR/dovecot.log           logs (no syslog needed)
#   STATEDIR/env   STATEDIR/pids                         for tests / down.sh
#
# Listeners (127.0.0.1 only):
#   2587  submission: STARTTLS offered, AUTH only after STARTTLS
#   2465  implicit TLS ("smtps"), AUTH
#   2525  plain: no TLS at all, AUTH allowed in cleartext
#
# How the private instance is run (why /etc/postfix is untouched):
#   We use `postfix -c STATEDIR/postfix-etc start`. Postfix only insists that a
#   non-default config directory be listed in the default main.cf's
#   alternate_config_directories when the command runs with euid != 0 (that
#   guards the set-gid postdrop/postqueue programs). We run as root, and our
#   tests speak SMTP rather than calling sendmail/postqueue, so no entry in
#   /etc/postfix/main.cf is needed (Debian's "No configuration" install does
#   not even create one). `-c` sets MAIL_CONFIG, which the master passes on to
#   every child (it is in the default import_environment), and it also scopes
#   `postfix -c DIR stop|status|reload` to this instance only.
#   Dovecot is run as `dovecot -c STATEDIR/dovecot/dovecot.conf`.
set -euo pipefail

STATEDIR=${1:-/tmp/mailwire-postfix}
case $STATEDIR in /*) ;; *) STATEDIR=$PWD/$STATEDIR ;; esac
STATEDIR=${STATEDIR%/}

# Fixed test parameters (the Go tests read them from STATEDIR/env).
SUBMISSION_PORT=2587
SMTPS_PORT=2465
PLAIN_PORT=2525
DOMAIN=mailwire.test            # every local part @mailwire.test is delivered
MYHOSTNAME=mx.mailwire.test     # shown in the 220 greeting and EHLO reply
TLS_NAME=localhost              # name in the server certificate (plus IP 127.0.0.1)
SASL_USER=alice
SASL_PASS=s3cret-P4ss
SIZE_LIMIT=10485760             # 10 MiB
RCPT_LIMIT=100                  # recipients per transaction
SMTPS_SIZE_LIMIT=83886080       # 80 MiB on the implicit-TLS port: room for a 50 MiB message
# The uid/gid that owns delivered mail. virtual(8) refuses uids < 100 (so not
# root); "nobody"/"nogroup" exists on every Debian system. Override if the
# tests run as some other user that must read the Maildir.
MAIL_UID=${MAILWIRE_MAIL_UID:-65534}
MAIL_GID=${MAILWIRE_MAIL_GID:-65534}

PF_ETC=$STATEDIR/postfix-etc
PF_QUEUE=$STATEDIR/queue
PF_DATA=$STATEDIR/data
DC_DIR=$STATEDIR/dovecot
DC_CONF=$DC_DIR/dovecot.conf
DC_RUN=$DC_DIR/run
AUTH_SOCKET=$DC_RUN/auth-postfix
TLS_DIR=$STATEDIR/tls
MAILDIR=$STATEDIR/maildir
RELAY_MAILDIR=$STATEDIR/relay-maildir
# Mail for any subdomain of DANE_ZONE, taken unauthenticated on the
# submission port as an MX takes it: the MX host of the DANE tests, whose
# zone (internal/dnstest) points there.
DANE_ZONE=dane.test
DANE_MAILDIR=$STATEDIR/dane-maildir
PF_LOG=$STATEDIR/postfix.log
DC_LOG=$STATEDIR/dovecot.log
LMTP_PORT=2424
LMTP_MAIL=$DC_DIR/mail # each LMTP user's Maildir: LMTP_MAIL/USER
LMTP_FULL_USER=full    # an LMTP user whose quota (1 byte) no message fits

log() { printf 'mailwire-postfix: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	for f in "$PF_LOG" "$DC_LOG"; do
		if [[ -s $f ]]; then
			log "--- last lines of $f ---"
			tail -n 25 "$f" >&2
		fi
	done
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, binds ports, runs postfix)"
# Postfix parameter values are whitespace/comma separated lists and expand $x,
# so keep the state path simple.
[[ $STATEDIR =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "STATEDIR must be a simple absolute path: $STATEDIR"

# ---------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------
# The default (system) instances, i.e. /etc/postfix and /etc/dovecot.
system_postfix_running() {
	[[ -x /usr/sbin/postfix && -f /etc/postfix/main.cf ]] &&
		env -u MAIL_CONFIG postfix status </dev/null >/dev/null 2>&1
}
system_dovecot_running() {
	local pid
	pid=$(cat /run/dovecot/master.pid 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

install_packages() {
	# Only the packages whose program is absent: `apt-get install P` also
	# upgrades an installed P (openssl would take libssl3, used by everything
	# else on the machine, to a new version), so an installed package is
	# never named, and --no-upgrade guards against it besides.
	local pkgs=() installed=()
	[[ -x /usr/sbin/postfix ]] || pkgs+=(postfix)
	[[ -x /usr/sbin/dovecot ]] || pkgs+=(dovecot-core)
	[[ -x /usr/lib/dovecot/lmtp ]] || pkgs+=(dovecot-lmtpd)
	# opendkim-testmsg: the tests' second, independent DKIM verifier.
	[[ -x /usr/sbin/opendkim-testmsg ]] || pkgs+=(opendkim-tools)
	command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
	((${#pkgs[@]})) || return 0
	local p
	for p in "${pkgs[@]}"; do
		# The program is missing but dpkg has the package (its files were
		# removed by hand?): installing it again would not bring them back.
		if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) == "ii " ]]; then
			installed+=("$p")
		fi
	done
	((${#installed[@]} == 0)) ||
		die "package(s) ${installed[*]} installed but their programs are missing; reinstall them (apt-get install --reinstall ${installed[*]})"

	local t0=$SECONDS
	local apt_log=/tmp/mailwire-postfix-apt.log
	: >"$apt_log"
	export DEBIAN_FRONTEND=noninteractive
	# apt-get update at most once an hour (the stamp is only a cache).
	local stamp=/tmp/.mailwire-apt-updated updated=0
	apt_update() {
		log "apt-get update"
		apt-get update -qq >>"$apt_log" 2>&1 ||
			log "warning: apt-get update failed (see $apt_log); trying the install anyway"
		touch "$stamp"
		updated=1
	}
	if [[ -z $(find "$stamp" -mmin -60 2>/dev/null) ]]; then
		apt_update
	fi

	# "No configuration": the postinst then writes no /etc/postfix/main.cf and
	# asks nothing. The mailname answer just avoids a second prompt.
	debconf-set-selections <<-EOF
		postfix postfix/main_mailer_type select No configuration
		postfix postfix/mailname string $MYHOSTNAME
	EOF

	# Keep the maintainer scripts from starting the system postfix/dovecot
	# (they would go through invoke-rc.d). policy-rc.d exit 101 = "action
	# forbidden". Only installed if there is none, and removed again after.
	local own_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
		printf '#!/bin/sh\n# temporary, from mailwire scripts/postfix/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	# Whether the system (default) instances already ran before the install
	# (only possible if one of the two packages was already there): those we
	# leave alone.
	local sys_postfix_before=0 sys_dovecot_before=0
	if system_postfix_running; then sys_postfix_before=1; fi
	if system_dovecot_running; then sys_dovecot_before=1; fi
	log "apt-get install --no-upgrade ${pkgs[*]} (missing; nothing installed is upgraded)"
	# A new package may need a newer version of an installed library, which
	# apt then upgrades without a word: say so (from a simulation).
	apt-get -s install --no-install-recommends --no-upgrade "${pkgs[@]}" 2>/dev/null |
		sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\).*/mailwire-postfix: note: apt upgrades \1 \2 -> \3, a dependency/p' >&2 || true
	local rc=0
	apt-get install -y -q --no-install-recommends --no-upgrade "${pkgs[@]}" >>"$apt_log" 2>&1 || rc=$?
	if ((rc != 0 && !updated)); then
		# Package lists from an earlier update may be stale: refresh, retry.
		apt_update
		rc=0
		apt-get install -y -q --no-install-recommends --no-upgrade "${pkgs[@]}" >>"$apt_log" 2>&1 || rc=$?
	fi
	if ((own_policy)); then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
	if ((rc != 0)); then
		tail -n 20 "$apt_log" >&2
		die "apt-get install failed (rc=$rc), full output in $apt_log"
	fi

	# Belt and braces: if the install nevertheless started a system instance
	# (a pre-existing policy-rc.d that allows it), stop it again so nothing
	# but ours listens. Default instances only, and only if they were not
	# running before the install.
	if ((!sys_postfix_before)) && system_postfix_running; then
		log "stopping the system postfix started by the package install"
		postfix stop </dev/null >/dev/null 2>&1 || true
	fi
	if ((!sys_dovecot_before)) && system_dovecot_running; then
		log "stopping the system dovecot started by the package install"
		dovecot stop </dev/null >/dev/null 2>&1 || true
	fi
	log "packages installed in $((SECONDS - t0))s"
}
install_packages

for u in postfix dovecot dovenull; do
	getent passwd "$u" >/dev/null || die "system user '$u' missing (postfix/dovecot-core install incomplete?)"
done
for g in postfix postdrop dovecot; do
	getent group "$g" >/dev/null || die "system group '$g' missing"
done

# ---------------------------------------------------------------------------
# 2. Directories
# ---------------------------------------------------------------------------
install -d -m 0755 -o root -g root "$STATEDIR" "$PF_ETC" "$DC_DIR" "$TLS_DIR"
# queue_directory must be root-owned; postfix creates its subdirectories
# (owned by postfix / postdrop) itself on start ("post-install create-missing").
install -d -m 0755 -o root -g root "$PF_QUEUE"
# data_directory belongs to mail_owner.
install -d -m 0700 -o postfix -g postfix "$PF_DATA"
# The two Maildirs virtual(8) delivers into, as MAIL_UID (made here so that
# they exist before the first delivery).
for d in "$MAILDIR" "$RELAY_MAILDIR" "$DANE_MAILDIR"; do
	install -d -m 0755 -o "$MAIL_UID" -g "$MAIL_GID" "$d" "$d/tmp" "$d/new" "$d/cur"
done
install -d -m 0755 -o root -g root "$DC_RUN" "$DC_DIR/state"
touch "$PF_LOG" "$DC_LOG"

# ---------------------------------------------------------------------------
# 3. Test CA and server certificate (kept across runs while valid for a day)
# ---------------------------------------------------------------------------
make_tls() {
	local d=$TLS_DIR
	if [[ -s $d/ca.pem && -s $d/server.pem && -s $d/server.key ]] &&
		openssl x509 -in "$d/server.pem" -noout -checkend 86400 >/dev/null 2>&1 &&
		openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null 2>&1; then
		return 0
	fi
	log "creating test CA and server certificate in $d"
	local tmp
	tmp=$(mktemp -d)
	# CA: basicConstraints CA:TRUE + keyCertSign, which Go's crypto/x509 needs.
	openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
		-subj "/O=mailwire tests/CN=mailwire test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" 2>/dev/null
	# Leaf: names only in subjectAltName (Go ignores the CN).
	openssl req -new -newkey rsa:2048 -nodes -sha256 \
		-keyout "$tmp/server.key" -out "$tmp/server.csr" \
		-subj "/O=mailwire tests/CN=$TLS_NAME" 2>/dev/null
	cat >"$tmp/ext.cnf" <<-EOF
		basicConstraints=critical,CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectAltName=DNS:$TLS_NAME,IP:127.0.0.1
		authorityKeyIdentifier=keyid
		subjectKeyIdentifier=hash
	EOF
	openssl x509 -req -sha256 -days 825 -in "$tmp/server.csr" \
		-CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-extfile "$tmp/ext.cnf" -out "$tmp/server.pem" 2>/dev/null
	install -m 0644 "$tmp/ca.pem" "$tmp/server.pem" "$d/"
	# Keys stay root-only: smtpd loads them as root before dropping privileges.
	install -m 0600 "$tmp/ca.key" "$tmp/server.key" "$d/"
	rm -rf "$tmp"
}
make_tls

# Config files are only rewritten when their content changes, so that a
# second up.sh on a running instance knows whether a reload is needed.
DC_CHANGED=0
PF_CHANGED=0
# write_config FILE FLAGVAR: stdin -> FILE if different; then sets FLAGVAR=1.
write_config() {
	local f=$1 tmp=$1.new
	cat >"$tmp"
	if cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
	else
		mv -f "$tmp" "$f"
		printf -v "$2" 1
	fi
}

# ---------------------------------------------------------------------------
# 4. Dovecot: SASL authentication service only
# ---------------------------------------------------------------------------
# The password is stored in cleartext ({PLAIN}) because CRAM-MD5 and SCRAM
# need the plaintext (or a mechanism-specific hash); with {PLAIN} Dovecot can
# serve PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256 from one entry.
# passwd-file: user:password:uid:gid:gecos:home:shell:extra fields. The
# extra field of LMTP_FULL_USER is its quota, for a delivery refused after
# the message (552 5.2.2) over LMTP.
printf '%s:{PLAIN}%s::::::\n%s:{PLAIN}%s::::::userdb_quota_rule=*:storage=1B\n' \
	"$SASL_USER" "$SASL_PASS" "$LMTP_FULL_USER" "$SASL_PASS" | write_config "$DC_DIR/users" DC_CHANGED
install -d -m 0755 -o "$MAIL_UID" -g "$MAIL_GID" "$LMTP_MAIL"
chown root:dovecot "$DC_DIR/users"
chmod 0640 "$DC_DIR/users"

write_config "$DC_CONF" DC_CHANGED <<EOF
# Generated by mailwire scripts/postfix/up.sh — do not edit, rerun up.sh.
# A self-contained Dovecot 2.3 config (nothing from /etc/dovecot is included)
# that provides SASL authentication to our Postfix, and LMTP delivery on
# 127.0.0.1:$LMTP_PORT for the LMTP tests.

# Name shown in process titles/logs, so this instance is recognisable.
instance_name = mailwire-dovecot
# All runtime files under STATEDIR, never /run/dovecot or /var/lib/dovecot.
base_dir = $DC_RUN
state_dir = $DC_DIR/state
log_path = $DC_LOG
info_log_path = $DC_LOG

# No IMAP/POP3: authentication, and LMTP on 127.0.0.1 only.
protocols = lmtp
listen = 127.0.0.1
ssl = no
postmaster_address = postmaster@$DOMAIN
# "alice@mailwire.test" and "alice" are one user, for SASL and LMTP.
auth_username_format = %Ln
mail_location = maildir:$LMTP_MAIL/%n
mail_plugins = quota
plugin {
  quota = maildir:User quota
}

# Postfix decides where cleartext AUTH is allowed (smtpd_tls_auth_only per
# port), so Dovecot must not refuse PLAIN/LOGIN on a "non-secure" connection.
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
# Answer wrong passwords without the default 2 s delay (Dovecot still flushes
# failures on a 0.5 s timer, so a failed AUTH takes up to 0.5 s). See also the
# "auth penalty" note where dovecot is started.
auth_failure_delay = 0
auth_verbose = yes

default_internal_user = dovecot
default_login_user = dovenull

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC_DIR/users
}
# The same file, for LMTP's user lookups (the quota comes from it).
userdb {
  driver = passwd-file
  args = username_format=%n $DC_DIR/users
  default_fields = uid=$MAIL_UID gid=$MAIL_GID home=$LMTP_MAIL/%n
}

service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}

service auth {
  # The socket Postfix's smtpd talks to (smtpd_sasl_path in main.cf).
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
doveconf -c "$DC_CONF" -n >/dev/null 2>"$STATEDIR/doveconf.err" ||
	die "dovecot config invalid: $(cat "$STATEDIR/doveconf.err")"
rm -f "$STATEDIR/doveconf.err"

# ---------------------------------------------------------------------------
# 5. Postfix configuration
# ---------------------------------------------------------------------------
# Mailbox map: every address @mailwire.test, whatever the local part (also
# SMTPUTF8 ones), goes to the single Maildir STATEDIR/maildir/ (a trailing "/"
# means Maildir format; paths are relative to virtual_mailbox_base). One file
# per recipient; virtual(8) prepends "Delivered-To: <recipient>" and
# "X-Original-To:", which is how a test tells recipients apart. (Per-recipient
# directories are not possible: virtual(8) refuses $1 substitution from regexp
# maps.) Mail for any other domain (only accepted from authenticated clients,
# see smtpd_relay_restrictions) and any bounce/postmaster notice goes to
# STATEDIR/relay-maildir/, so nothing ever leaves this machine.
write_config "$PF_ETC/virtual_mailbox.regexp" PF_CHANGED <<'EOF'
/@mailwire\.test$/	maildir/
/@([^@]+\.)?dane\.test$/	dane-maildir/
/./	relay-maildir/
EOF

# Every subdomain of DANE_ZONE (dane.test) is a mailbox domain: a
# leading-dot pattern matches subdomains only in the lists that
# parent_domain_matches_subdomains names, and virtual_mailbox_domains is
# not one of them.
write_config "$PF_ETC/dane_domains.regexp" PF_CHANGED <<'EOF'
/(^|\.)dane\.test$/	OK
EOF

# texthash: read directly, no postmap/.db needed.
write_config "$PF_ETC/recipient_access" PF_CHANGED <<'EOF'
reject@mailwire.test	550 5.1.1 User unknown
tempfail@mailwire.test	450 4.2.1 Mailbox busy, try again later
EOF

write_config "$PF_ETC/main.cf" PF_CHANGED <<EOF
# Generated by mailwire scripts/postfix/up.sh — do not edit, rerun up.sh.
# Private Postfix instance for integration tests; run as
#   postfix -c $PF_ETC start|stop|status|reload

compatibility_level = 3.6

# --- Where this instance lives (all under STATEDIR) -------------------------
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
mail_owner = postfix
setgid_group = postdrop

# --- Logging: to a file through postlogd (master.cf "postlog"), no syslog ---
syslog_name = postfix-mailwire
maillog_file = $PF_LOG
# maillog_file must start with one of these prefixes (default: /var, /dev/stdout).
maillog_file_prefixes = $STATEDIR

# --- Network: loopback only, no DNS ------------------------------------------
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = $MYHOSTNAME
mydomain = $DOMAIN
myorigin = \$myhostname
# Nothing is delivered by local(8): no local domains, no aliases.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
# Loopback is NOT trusted for relaying (permit_mynetworks is not used in any
# restriction list); mynetworks only exempts the tests from anvil rate limits
# (smtpd_client_event_limit_exceptions = \$mynetworks).
mynetworks = 127.0.0.0/8
# Everything the tests need resolves locally; never query DNS.
smtp_dns_support_level = disabled
smtpd_peername_lookup = no

# --- Delivery: Maildirs STATEDIR/maildir (and relay-maildir) via virtual(8) --
virtual_mailbox_domains = $DOMAIN, regexp:$PF_ETC/dane_domains.regexp
virtual_mailbox_base = $STATEDIR
virtual_mailbox_maps = regexp:$PF_ETC/virtual_mailbox.regexp
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_minimum_uid = 100
# 0 = no per-mailbox limit (it must not be below message_size_limit).
virtual_mailbox_limit = 0
# Mail for other domains (accepted only after AUTH) and any bounce or
# postmaster notice also goes to virtual(8), i.e. into relay-maildir/:
# there is no smtp(8) transport and no path off this machine.
default_transport = virtual
relay_transport = virtual

# --- SMTP server features ------------------------------------------------------
# EHLO advertises PIPELINING, SIZE, VRFY, ETRN, STARTTLS (where TLS is on),
# AUTH (where allowed), ENHANCEDSTATUSCODES, 8BITMIME, DSN, SMTPUTF8, CHUNKING.
# cleanup(8) takes up to SMTPS_SIZE_LIMIT (the implicit-TLS port's limit);
# submission and the plain port say, and enforce, SIZE_LIMIT (master.cf).
message_size_limit = $SMTPS_SIZE_LIMIT
# 100 recipients per transaction (default 1000), without LIMITS (Postfix
# 3.7 has none): the 101st RCPT gets "452 4.5.3 Error: too many recipients".
smtpd_recipient_limit = $RCPT_LIMIT
smtputf8_enable = yes
smtpd_discard_ehlo_keywords =
# Answer at once even after many errors (default: 1 s sleep after 10 errors).
smtpd_error_sleep_time = 0
# Do not throttle the tests when the queue is busy.
in_flow_delay = 0s

# --- Recipient policy ------------------------------------------------------------
# Relay check first: authenticated clients may send anywhere (delivered to
# relay-maildir/); unauthenticated clients only to mailwire.test, anything
# else gets "554 5.7.1 Relay access denied". Holds on all three ports.
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
# Then, for everybody: reject@mailwire.test -> 550 5.1.1 and tempfail@mailwire.test
# -> 450 4.2.1 at RCPT TO.
smtpd_recipient_restrictions = check_recipient_access texthash:$PF_ETC/recipient_access

# --- SASL via Dovecot ------------------------------------------------------------
smtpd_sasl_type = dovecot
smtpd_sasl_path = $AUTH_SOCKET
# AUTH is switched on per listener in master.cf.
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no

# --- TLS (server side); per-port levels are set in master.cf ------------------
smtpd_tls_cert_file = $TLS_DIR/server.pem
smtpd_tls_key_file = $TLS_DIR/server.key
smtpd_tls_security_level = none
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
# The (unused) SMTP client side never does TLS.
smtp_tls_security_level = none
EOF

write_config "$PF_ETC/master.cf" PF_CHANGED <<EOF
# Generated by mailwire scripts/postfix/up.sh — do not edit, rerun up.sh.
# Nothing is chrooted (the chroot would need copies of the TLS files etc.).
# There is deliberately no port 25 "smtp inet" service, no local(8), no smtp(8).
# ==========================================================================
# service type  private unpriv  chroot  wakeup  maxproc command + args
# ==========================================================================

# Submission: STARTTLS offered, AUTH advertised/accepted only after STARTTLS.
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailwire/submission
  -o smtpd_tls_security_level=may
  -o smtpd_tls_auth_only=yes
  -o message_size_limit=$SIZE_LIMIT
  -o smtpd_sasl_auth_enable=yes

# Implicit TLS ("smtps"/submissions): TLS handshake first, then SMTP + AUTH.
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailwire/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes

# Plaintext: no TLS at all, AUTH offered and accepted in cleartext.
127.0.0.1:$PLAIN_PORT inet n - n - - smtpd
  -o syslog_name=postfix-mailwire/plain
  -o smtpd_tls_security_level=none
  -o smtpd_tls_auth_only=no
  -o message_size_limit=$SIZE_LIMIT
  -o smtpd_sasl_auth_enable=yes

pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
# Writes maillog_file (STATEDIR/postfix.log).
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

# ---------------------------------------------------------------------------
# 6. Start (or reload) the daemons
# ---------------------------------------------------------------------------
pf() { postfix -c "$PF_ETC" "$@"; }

postfix_pid() {
	# Prints the pid of *our* postfix master, if it runs: the pid in our
	# queue's pid/master.pid whose environment has MAIL_CONFIG=our dir (set
	# by postfix -c). (Cheaper than "postfix status", which takes 2 s when
	# the instance is down because it cannot reach postlogd.)
	local pid
	pid=$(sed -n '1s/[^0-9]//gp' "$PF_QUEUE/pid/master.pid" 2>/dev/null) || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "MAIL_CONFIG=$PF_ETC" || return 1
	echo "$pid"
}
postfix_running() { postfix_pid >/dev/null; }

dovecot_pid() {
	# Prints the pid of *our* dovecot master, if it runs.
	local pid
	pid=$(cat "$DC_RUN/master.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$DC_CONF" || return 1
	echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! postfix_running; then
	# A port already taken by something else would make master fail at bind().
	for p in $SUBMISSION_PORT $SMTPS_PORT $PLAIN_PORT; do
		! port_open "$p" || die "127.0.0.1:$p is already in use (another program, or an instance started with another STATEDIR: stop it with down.sh STATEDIR)"
	done
fi

# Dovecot first, so AUTH works as soon as postfix answers.
# Dovecot's auth process delays every login attempt after a failed one from
# the same IP by 2, 4, 8, ... up to 15 s ("auth penalty", kept in anvil);
# auth_failure_delay does not cover it and there is no setting to turn it
# off. Every test connects from 127.0.0.1, so a single wrong-password test
# would slow all later AUTHs. The auth process connects to anvil's
# "anvil-auth-penalty" socket once, when it starts (on the first AUTH, and
# again after a reload), and silently disables the penalty if that socket
# does not exist; so it is removed before postfix can send the first AUTH.
# Nothing else uses it, and a reload does not recreate it.
#
# The daemons must not inherit our stdin/stdout/stderr: a caller that pipes
# or captures up.sh's output would otherwise wait for them to exit.
if dovecot_pid >/dev/null; then
	if ((DC_CHANGED)); then
		log "dovecot already running; reloading its changed configuration"
		rm -f "$DC_RUN/anvil-auth-penalty"
		dovecot -c "$DC_CONF" reload </dev/null >/dev/null 2>&1 || die "dovecot reload failed"
		# SIGHUP is handled asynchronously and the master re-creates the
		# listeners; give it a moment before looking for the socket.
		sleep 1
	else
		log "dovecot already running, configuration unchanged"
	fi
else
	log "starting dovecot"
	dovecot -c "$DC_CONF" </dev/null >"$STATEDIR/dovecot-start.err" 2>&1 ||
		die "dovecot failed to start: $(cat "$STATEDIR/dovecot-start.err")"
	rm -f "$STATEDIR/dovecot-start.err"
	for _ in $(seq 50); do
		[[ -S $DC_RUN/anvil-auth-penalty ]] && break
		sleep 0.1
	done
	rm -f "$DC_RUN/anvil-auth-penalty"
fi
for _ in $(seq 100); do
	[[ -S $AUTH_SOCKET ]] && dovecot_pid >/dev/null && break
	sleep 0.1
done
[[ -S $AUTH_SOCKET ]] || die "dovecot auth socket $AUTH_SOCKET did not appear"
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$LMTP_PORT") 2>/dev/null && break
	sleep 0.05
done
(exec 3<>"/dev/tcp/127.0.0.1/$LMTP_PORT") 2>/dev/null || die "dovecot's LMTP listener 127.0.0.1:$LMTP_PORT did not open"

if postfix_running; then
	if ((PF_CHANGED)); then
		log "postfix already running; reloading its changed configuration"
		pf reload </dev/null >/dev/null 2>&1 || die "postfix reload failed"
		# Give the master a moment to replace the listeners.
		sleep 1
	else
		log "postfix already running, configuration unchanged"
	fi
else
	log "starting postfix"
	# "start" runs Postfix's own integrity check, which also creates the
	# queue subdirectories (incoming, active, private, public, ...).
	pf start </dev/null >/dev/null 2>"$STATEDIR/postfix-start.err" ||
		die "postfix start failed: $(cat "$STATEDIR/postfix-start.err")"
	rm -f "$STATEDIR/postfix-start.err"
fi

# ---------------------------------------------------------------------------
# 7. Wait until all three ports answer "220" (30 s)
# ---------------------------------------------------------------------------
greeting_plain() (
	# Reads the greeting on a cleartext port, then says QUIT. (A subshell, so
	# a failed connect or fd 3 cannot affect the script.)
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	IFS= read -r -t 5 line <&3 || exit 1
	printf 'QUIT\r\n' >&3 || true
	[[ $line == 220[\ -]* ]]
)
greeting_tls() {
	# Implicit TLS port: handshake (verifying our CA and the name), greeting.
	local out
	out=$(printf 'QUIT\r\n' | timeout 5 openssl s_client -quiet \
		-connect "127.0.0.1:$1" -servername "$TLS_NAME" \
		-CAfile "$TLS_DIR/ca.pem" -verify_return_error -verify_hostname "$TLS_NAME" \
		2>/dev/null) || true
	[[ $out == 220[\ -]* ]]
}

deadline=$((SECONDS + 30))
pending="$SUBMISSION_PORT $SMTPS_PORT $PLAIN_PORT"
while :; do
	left=
	for p in $pending; do
		if [[ $p == "$SMTPS_PORT" ]]; then
			greeting_tls "$p" 2>/dev/null || left+=" $p"
		else
			greeting_plain "$p" 2>/dev/null || left+=" $p"
		fi
	done
	pending=$left
	[[ -z $pending ]] && break
	((SECONDS < deadline)) || die "no 220 greeting within 30 s on port(s):$pending"
	sleep 0.2
done

# ---------------------------------------------------------------------------
# 8. Record PIDs and the environment for the tests
# ---------------------------------------------------------------------------
PF_PID=$(postfix_pid || true)
DC_PID=$(dovecot_pid || true)
[[ -n $PF_PID && -n $DC_PID ]] || die "could not determine the daemon PIDs"
cat >"$STATEDIR/pids" <<EOF
postfix_master=$PF_PID
dovecot_master=$DC_PID
EOF

cat >"$STATEDIR/env.tmp" <<EOF
MAILWIRE_POSTFIX=1
MAILWIRE_POSTFIX_SUBMISSION=127.0.0.1:$SUBMISSION_PORT
MAILWIRE_POSTFIX_SMTPS=127.0.0.1:$SMTPS_PORT
MAILWIRE_POSTFIX_PLAIN=127.0.0.1:$PLAIN_PORT
MAILWIRE_POSTFIX_CA=$TLS_DIR/ca.pem
MAILWIRE_POSTFIX_TLS_NAME=$TLS_NAME
MAILWIRE_POSTFIX_MAILDIR=$MAILDIR
MAILWIRE_POSTFIX_RELAY_MAILDIR=$RELAY_MAILDIR
MAILWIRE_POSTFIX_DANE_MAILDIR=$DANE_MAILDIR
MAILWIRE_POSTFIX_DOMAIN=$DOMAIN
MAILWIRE_POSTFIX_HOSTNAME=$MYHOSTNAME
MAILWIRE_POSTFIX_REJECT=reject@$DOMAIN
MAILWIRE_POSTFIX_TEMPFAIL=tempfail@$DOMAIN
MAILWIRE_POSTFIX_SIZE_LIMIT=$SIZE_LIMIT
MAILWIRE_POSTFIX_RCPT_LIMIT=$RCPT_LIMIT
MAILWIRE_POSTFIX_SMTPS_SIZE_LIMIT=$SMTPS_SIZE_LIMIT
MAILWIRE_POSTFIX_USER=$SASL_USER
MAILWIRE_POSTFIX_PASS=$SASL_PASS
MAILWIRE_POSTFIX_LOG=$PF_LOG
MAILWIRE_DOVECOT_LMTP=127.0.0.1:$LMTP_PORT
MAILWIRE_DOVECOT_LMTP_MAIL=$LMTP_MAIL
MAILWIRE_DOVECOT_LMTP_FULL_USER=$LMTP_FULL_USER@$DOMAIN
EOF
mv "$STATEDIR/env.tmp" "$STATEDIR/env"

cat <<EOF
mailwire test postfix is up (postfix master pid $PF_PID, dovecot pid $DC_PID)
  submission (STARTTLS, AUTH after TLS)  127.0.0.1:$SUBMISSION_PORT
  implicit TLS, AUTH                     127.0.0.1:$SMTPS_PORT
  plaintext, AUTH in clear               127.0.0.1:$PLAIN_PORT
  SASL user / password                   $SASL_USER / $SASL_PASS
  CA certificate (for "$TLS_NAME")       $TLS_DIR/ca.pem
  Maildir for *@$DOMAIN            $MAILDIR
  Maildir for other domains (AUTH)       $RELAY_MAILDIR
  Maildir for *.$DANE_ZONE (as an MX)    $DANE_MAILDIR
  logs                                   $PF_LOG $DC_LOG
  environment for tests                  $STATEDIR/env
EOF
