#!/usr/bin/env bash
# capture-explain-logs.sh [STATEDIR] — capture REAL verbose logs of common SMTP
# tools (curl, openssl s_client, gnutls-cli, swaks, msmtp, mailwire --trace)
# run against the project's test Postfix (scripts/postfix/up.sh), for
# `mailwire explain`.
#
# Output: cmd/mailwire/testdata/captured/<tool>-<case>.txt (stdout and stderr
# merged, exactly as the tool printed them; nothing is edited afterwards) and
# cmd/mailwire/testdata/captured/README.md (file, command, tool version, exit
# code). The directory is recreated on every run.
#
# Needs root (up.sh installs and starts Postfix + Dovecot on 127.0.0.1:2587,
# 2465, 2525). Tools that are missing are installed with apt-get
# (--no-install-recommends --no-upgrade); installed packages are never named.
# The password in the logs is the test Postfix's throwaway credential.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATEDIR=${1:-/tmp/mailwire-capture-postfix}
WORK=/tmp/mailwire-capture-work
OUT=$ROOT/cmd/mailwire/testdata/captured

log() { printf 'capture: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
[[ $(id -u) -eq 0 ]] || die "must run as root (scripts/postfix/up.sh needs it)"

# ---------------------------------------------------------------------------
# 1. Tools (only the missing ones; apt-get update once)
# ---------------------------------------------------------------------------
pkgs=()
command -v curl >/dev/null 2>&1 || pkgs+=(curl)
command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
command -v gnutls-cli >/dev/null 2>&1 || pkgs+=(gnutls-bin)
command -v swaks >/dev/null 2>&1 || pkgs+=(swaks)
command -v msmtp >/dev/null 2>&1 || pkgs+=(msmtp)
# swaks only recommends Net::SSLeay, without which it has no TLS at all
# ("*** TLS not available: requires Net::SSLeay.  Exiting").
perl -MNet::SSLeay -e 1 >/dev/null 2>&1 || pkgs+=(libnet-ssleay-perl)
if ((${#pkgs[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	log "apt-get update; apt-get install ${pkgs[*]}"
	apt-get update -qq >/dev/null
	apt-get install -y -q --no-install-recommends --no-upgrade "${pkgs[@]}" >/dev/null
fi

# ---------------------------------------------------------------------------
# 2. Test Postfix (stopped again on exit)
# ---------------------------------------------------------------------------
cleanup() { bash "$ROOT/scripts/postfix/down.sh" "$STATEDIR" || true; }
trap cleanup EXIT
bash "$ROOT/scripts/postfix/up.sh" "$STATEDIR" >/dev/null
# shellcheck source=/dev/null
. "$STATEDIR/env"
CA=$MAILWIRE_POSTFIX_CA
U=$MAILWIRE_POSTFIX_USER
P=$MAILWIRE_POSTFIX_PASS
REJECT=$MAILWIRE_POSTFIX_REJECT
TEMPFAIL=$MAILWIRE_POSTFIX_TEMPFAIL
SUB_PORT=${MAILWIRE_POSTFIX_SUBMISSION##*:}
TLS_PORT=${MAILWIRE_POSTFIX_SMTPS##*:}
PLAIN_PORT=${MAILWIRE_POSTFIX_PLAIN##*:}
HOST=127.0.0.1
NAME=$MAILWIRE_POSTFIX_TLS_NAME # "localhost": in the certificate
WRONG_NAME=mail.wrong-name.test # not in the certificate
FROM=sender@$MAILWIRE_POSTFIX_DOMAIN
RCPT=bob@$MAILWIRE_POSTFIX_DOMAIN
SYSCA=/etc/ssl/certs/ca-certificates.crt # system trust: lacks the test CA
WRONG_PIN=sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
# A handshake the server aborts: the client offers only TLS 1.2 with an ECDSA
# suite, and the server's key is RSA, so Postfix answers the ClientHello with
# a handshake_failure alert.
ECDSA_ONLY=ECDHE-ECDSA-AES128-GCM-SHA256
GNUTLS_ECDSA_ONLY='NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA'

# One more listener for this capture only (never in up.sh): STARTTLS required
# and a client certificate required. Postfix finishes the TLS handshake
# without one, then answers "421 4.7.1 ... No client certificate presented":
# the session is encrypted, and over.
CCERT_PORT=2588
postconf -c "$STATEDIR/postfix-etc" -M "$HOST:$CCERT_PORT/inet=$HOST:$CCERT_PORT inet n - n - - smtpd -o syslog_name=postfix-mailwire/ccert -o smtpd_tls_security_level=encrypt -o smtpd_tls_ask_ccert=yes -o smtpd_tls_req_ccert=yes -o smtpd_sasl_auth_enable=yes"
postfix -c "$STATEDIR/postfix-etc" reload >/dev/null 2>&1
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/$HOST/$CCERT_PORT") 2>/dev/null && break
	sleep 0.1
done

# ---------------------------------------------------------------------------
# 3. Inputs: messages, msmtp configuration, SMTP dialogues
# ---------------------------------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK"
# mailwire itself, built from this checkout.
(cd "$ROOT" && go build -o "$WORK/mailwire" ./cmd/mailwire)
printf '%s\n' "$P" >"$WORK/password"
message() { # subject
	printf 'From: Sender <%s>\nTo: Bob <%s>\nSubject: %s\nDate: %s\nMessage-ID: <%s.%s@mailwire.test>\n\nHello from the mailwire log capture.\n' \
		"$FROM" "$RCPT" "$1" "$(date -R)" "$1" "$$"
}
message "capture test" >"$WORK/msg.eml"
# More than the 10 MiB limit: 11 MiB of 76-character lines.
{
	message "too large"
	head -c $((11 * 1024 * 1024)) /dev/zero | tr '\0' 'x' | fold -w 76
	echo
} >"$WORK/big.eml"

AUTH_PLAIN=$(printf '\0%s\0%s' "$U" "$P" | base64 -w0)
AUTH_PLAIN_BAD=$(printf '\0%s\0%s' "$U" "wrong-password" | base64 -w0)
export AUTH_PLAIN AUTH_PLAIN_BAD FROM RCPT REJECT TEMPFAIL WORK

# dialogue KIND — the SMTP client side fed to openssl s_client / gnutls-cli
# on stdin, with pauses so that every line meets the reply to the one before.
# KIND: ok, badpass, reject, tempfail (a recipient refused for now), big (11 MiB message after DATA), bigsize (the
# 11 MiB declared with SIZE= in MAIL FROM, refused there).
dialogue() {
	local s=0.3
	printf 'EHLO client.mailwire.test\n'
	sleep "$s"
	if [[ $1 == badpass ]]; then
		printf 'AUTH PLAIN %s\n' "$AUTH_PLAIN_BAD"
		sleep 1
		printf 'QUIT\n'
		sleep "$s"
		return
	fi
	printf 'AUTH PLAIN %s\n' "$AUTH_PLAIN"
	sleep 1
	if [[ $1 == bigsize ]]; then
		printf 'MAIL FROM:<%s> SIZE=%s\n' "$FROM" "$(stat -c %s "$WORK/big.eml")"
		sleep "$s"
		printf 'QUIT\n'
		sleep "$s"
		return
	fi
	printf 'MAIL FROM:<%s>\n' "$FROM"
	sleep "$s"
	if [[ $1 == reject || $1 == tempfail ]]; then
		if [[ $1 == reject ]]; then local to=$REJECT; else local to=$TEMPFAIL; fi
		printf 'RCPT TO:<%s>\n' "$to"
		sleep "$s"
		printf 'QUIT\n'
		sleep "$s"
		return
	fi
	printf 'RCPT TO:<%s>\n' "$RCPT"
	sleep "$s"
	printf 'DATA\n'
	sleep "$s"
	if [[ $1 == big ]]; then
		cat "$WORK/big.eml"
	else
		cat "$WORK/msg.eml"
	fi
	printf '.\n'
	# Postfix needs a moment for an 11 MiB message before it answers (and
	# the tools hang up when their stdin ends).
	if [[ $1 == big ]]; then sleep 6; else sleep 2; fi
	printf 'QUIT\n'
	sleep "$s"
}
export -f dialogue

# msmtp: one configuration file, one account per case.
MSMTPRC=$WORK/msmtprc
WRONG_FP=00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF
cat >"$MSMTPRC" <<EOF
defaults
host $HOST
from $FROM
user $U
password $P
auth plain
tls on
tls_trust_file $CA
timeout 10
logfile -

account starttls
port $SUB_PORT
tls_starttls on

account implicit-tls
port $TLS_PORT
tls_starttls off

account plain-port
port $PLAIN_PORT
tls off

account auth-login : starttls
auth login

account auth-cram-md5 : starttls
auth cram-md5

account wrong-password : starttls
password wrong-password

account unknown-ca : starttls
tls_trust_file $SYSCA

account wrong-name : starttls
tls_host_override $WRONG_NAME

account pin-mismatch : starttls
tls_trust_file
tls_fingerprint $WRONG_FP

account implicit-tls-on-starttls-port
port $SUB_PORT
tls_starttls off

account starttls-on-implicit-port
port $TLS_PORT
tls_starttls on

account handshake-aborted : starttls
tls_priorities $GNUTLS_ECDSA_ONLY

account starttls-not-offered
port $PLAIN_PORT
tls_starttls on
EOF
chmod 600 "$MSMTPRC"

# ---------------------------------------------------------------------------
# 4. Capture
# ---------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
declare -A VERSION
VERSION[curl]=$(curl --version | head -n1)
VERSION[openssl]=$(openssl version)
VERSION[gnutls-cli]=$(gnutls-cli --version | head -n1)
VERSION[swaks]=$(swaks --version | head -n1)
VERSION[msmtp]=$(msmtp --version | head -n1)
VERSION[mailwire]="built from commit $(git -C "$ROOT" rev-parse --short HEAD) with $(go version | cut -d' ' -f3)"

ROWS=()
# capture TOOL CASE EXPECT COMMAND — runs COMMAND with bash, stdout+stderr
# merged into OUT/TOOL-CASE.txt. EXPECT (success/failure) is what the case
# is about, not a judgement of the tool's exit code.
capture() {
	local tool=$1 case=$2 expect=$3 cmd=$4 rc=0
	local file=$tool-$case.txt
	log "$file"
	(cd "$WORK" && bash -c "$cmd") >"$OUT/$file" 2>&1 </dev/null || rc=$?
	ROWS+=("| \`$file\` | $expect | $rc | \`${cmd//|/\\|}\` |")
}

CURL="timeout 15 curl -v --max-time 10"
CURL_MSG="--mail-from $FROM --mail-rcpt $RCPT --upload-file $WORK/msg.eml"
capture curl success-starttls success "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd $CURL_MSG --user $U:$P --cacert $CA"
capture curl success-implicit-tls success "$CURL --url smtps://$HOST:$TLS_PORT $CURL_MSG --user $U:$P --cacert $CA"
capture curl success-plain-port success "$CURL --url smtp://$HOST:$PLAIN_PORT $CURL_MSG --user $U:$P"
capture curl success-auth-login success "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd --login-options AUTH=LOGIN $CURL_MSG --user $U:$P --cacert $CA"
capture curl success-auth-cram-md5 success "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd --login-options AUTH=CRAM-MD5 $CURL_MSG --user $U:$P --cacert $CA"
capture curl wrong-password failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd $CURL_MSG --user $U:wrong-password --cacert $CA"
capture curl rejected-recipient failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd --mail-from $FROM --mail-rcpt $REJECT --upload-file $WORK/msg.eml --user $U:$P --cacert $CA"
capture curl too-large failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd --mail-from $FROM --mail-rcpt $RCPT --upload-file $WORK/big.eml --user $U:$P --cacert $CA"
capture curl unknown-ca failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd $CURL_MSG --user $U:$P"
capture curl wrong-name failure "$CURL --url smtp://$WRONG_NAME:$SUB_PORT --resolve $WRONG_NAME:$SUB_PORT:$HOST --ssl-reqd $CURL_MSG --user $U:$P --cacert $CA"
capture curl pin-mismatch failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd $CURL_MSG --user $U:$P --cacert $CA --pinnedpubkey $WRONG_PIN"
capture curl implicit-tls-on-starttls-port failure "$CURL --url smtps://$HOST:$SUB_PORT $CURL_MSG --user $U:$P --cacert $CA"
capture curl starttls-on-implicit-port failure "$CURL --url smtp://$HOST:$TLS_PORT --ssl-reqd $CURL_MSG --user $U:$P --cacert $CA"
capture curl tempfail-recipient failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd --mail-from $FROM --mail-rcpt $TEMPFAIL --upload-file $WORK/msg.eml --user $U:$P --cacert $CA"
capture curl handshake-aborted failure "$CURL --url smtp://$HOST:$SUB_PORT --ssl-reqd --tlsv1.2 --tls-max 1.2 --ciphers $ECDSA_ONLY $CURL_MSG --user $U:$P --cacert $CA"
capture curl starttls-not-offered failure "$CURL --url smtp://$HOST:$PLAIN_PORT --ssl-reqd $CURL_MSG --user $U:$P --cacert $CA"
capture curl client-cert-required failure "$CURL --url smtp://$HOST:$CCERT_PORT --ssl-reqd $CURL_MSG --user $U:$P --cacert $CA"

# stdbuf -oL: line-buffered stdout as on a terminal, so that stdout and
# stderr interleave as a user would see them, and a run killed by timeout
# keeps what it printed.
# openssl s_client: -nocommands, or a line starting with R (RCPT) renegotiates
# and one starting with Q (QUIT) closes. No way to speak plaintext SMTP
# (plain port) or to pin a key: those cases are skipped.
OSSL="stdbuf -oL openssl s_client -crlf -nocommands -verify_return_error"
capture openssl success-starttls success "dialogue ok | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl success-implicit-tls success "dialogue ok | timeout 15 $OSSL -connect $HOST:$TLS_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl wrong-password failure "dialogue badpass | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl rejected-recipient failure "dialogue reject | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl too-large failure "dialogue big | timeout 30 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl unknown-ca failure "dialogue ok | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -verify_hostname $NAME"
capture openssl wrong-name failure "dialogue ok | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $WRONG_NAME"
capture openssl implicit-tls-on-starttls-port failure "dialogue ok | timeout 15 $OSSL -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl starttls-on-implicit-port failure "dialogue ok | timeout 15 $OSSL -starttls smtp -connect $HOST:$TLS_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl tempfail-recipient failure "dialogue tempfail | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl handshake-aborted failure "dialogue ok | timeout 15 $OSSL -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME -tls1_2 -cipher $ECDSA_ONLY"
capture openssl client-cert-required failure "dialogue ok | timeout 15 $OSSL -starttls smtp -connect $HOST:$CCERT_PORT -CAfile $CA -verify_hostname $NAME"
# The same success with the options a debugging session adds: -msg (every TLS
# message in hex), -state (the handshake's states), and without -crlf (lines
# end in LF alone, which Postfix takes from a client) and without
# -verify_return_error (s_client goes on after a failed verification).
capture openssl success-msg success "dialogue ok | timeout 15 $OSSL -msg -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl success-state success "dialogue ok | timeout 15 $OSSL -state -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl success-no-crlf success "dialogue ok | timeout 15 stdbuf -oL openssl s_client -nocommands -verify_return_error -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $NAME"
capture openssl wrong-name-goes-on failure "dialogue ok | timeout 15 stdbuf -oL openssl s_client -crlf -nocommands -starttls smtp -connect $HOST:$SUB_PORT -CAfile $CA -verify_hostname $WRONG_NAME"

# gnutls-cli: verifies the certificate (and the host name given, or
# --verify-hostname) by default. No plaintext-only mode, no key pin option
# (only --tofu, trust on first use): those cases are skipped.
GNUTLS="stdbuf -oL gnutls-cli --crlf"
capture gnutls-cli success-starttls success "dialogue ok | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA $HOST"
capture gnutls-cli success-implicit-tls success "dialogue ok | timeout 15 $GNUTLS -p $TLS_PORT --x509cafile $CA $HOST"
capture gnutls-cli wrong-password failure "dialogue badpass | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA $HOST"
capture gnutls-cli rejected-recipient failure "dialogue reject | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA $HOST"
# too-large declares the size in MAIL FROM: fed the 11 MiB message after DATA,
# gnutls-cli 3.7.9 never got the final "." through (Postfix logged "lost
# connection after DATA" when stdin ended; no 552 in the log).
capture gnutls-cli too-large failure "dialogue bigsize | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA $HOST"
capture gnutls-cli unknown-ca failure "dialogue ok | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT $HOST"
capture gnutls-cli wrong-name failure "dialogue ok | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA --verify-hostname $WRONG_NAME $HOST"
capture gnutls-cli implicit-tls-on-starttls-port failure "dialogue ok | timeout 15 $GNUTLS -p $SUB_PORT --x509cafile $CA $HOST"
capture gnutls-cli starttls-on-implicit-port failure "dialogue ok | timeout 15 $GNUTLS --starttls-proto smtp -p $TLS_PORT --x509cafile $CA $HOST"
capture gnutls-cli tempfail-recipient failure "dialogue tempfail | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA $HOST"
capture gnutls-cli handshake-aborted failure "dialogue ok | timeout 15 $GNUTLS --starttls-proto smtp -p $SUB_PORT --x509cafile $CA --priority $GNUTLS_ECDSA_ONLY $HOST"

# swaks 20201014: --tls-verify checks the chain only; it has no host name
# check (--tls-verify-host came in a later release) and no key pin, so
# wrong-name and pin-mismatch are skipped. --suppress-data for the 11 MiB
# message, which swaks would otherwise print line by line.
SWAKS="timeout 15 swaks --server $HOST --timeout 10 --from $FROM"
SWAKS_AUTH="--auth PLAIN --auth-user $U --auth-password $P"
SWAKS_TLS="--tls-verify --tls-ca-path $CA"
capture swaks success-starttls success "$SWAKS --to $RCPT --port $SUB_PORT --tls $SWAKS_AUTH $SWAKS_TLS"
capture swaks success-implicit-tls success "$SWAKS --to $RCPT --port $TLS_PORT --tls-on-connect $SWAKS_AUTH $SWAKS_TLS"
capture swaks success-plain-port success "$SWAKS --to $RCPT --port $PLAIN_PORT $SWAKS_AUTH"
capture swaks success-auth-login success "$SWAKS --to $RCPT --port $SUB_PORT --tls --auth LOGIN --auth-user $U --auth-password $P $SWAKS_TLS"
capture swaks success-auth-cram-md5 success "$SWAKS --to $RCPT --port $SUB_PORT --tls --auth CRAM-MD5 --auth-user $U --auth-password $P $SWAKS_TLS"
capture swaks wrong-password failure "$SWAKS --to $RCPT --port $SUB_PORT --tls --auth PLAIN --auth-user $U --auth-password wrong-password $SWAKS_TLS"
capture swaks rejected-recipient failure "$SWAKS --to $REJECT --port $SUB_PORT --tls $SWAKS_AUTH $SWAKS_TLS"
capture swaks too-large failure "$SWAKS --to $RCPT --port $SUB_PORT --tls $SWAKS_AUTH $SWAKS_TLS --data @$WORK/big.eml --suppress-data"
capture swaks unknown-ca failure "$SWAKS --to $RCPT --port $SUB_PORT --tls $SWAKS_AUTH --tls-verify --tls-ca-path $SYSCA"
capture swaks implicit-tls-on-starttls-port failure "$SWAKS --to $RCPT --port $SUB_PORT --tls-on-connect $SWAKS_AUTH $SWAKS_TLS"
capture swaks starttls-on-implicit-port failure "$SWAKS --to $RCPT --port $TLS_PORT --tls $SWAKS_AUTH $SWAKS_TLS"
capture swaks tempfail-recipient failure "$SWAKS --to $TEMPFAIL --port $SUB_PORT --tls $SWAKS_AUTH $SWAKS_TLS"
capture swaks handshake-aborted failure "$SWAKS --to $RCPT --port $SUB_PORT --tls --tls-protocol tlsv1_2 --tls-cipher $ECDSA_ONLY $SWAKS_AUTH $SWAKS_TLS"
capture swaks starttls-not-offered failure "$SWAKS --to $RCPT --port $PLAIN_PORT --tls $SWAKS_AUTH $SWAKS_TLS"

# msmtp (--debug): every case is an account in $MSMTPRC (listed in README).
MSMTP="timeout 15 stdbuf -oL msmtp --debug -C $MSMTPRC"
for acct in starttls implicit-tls plain-port auth-login auth-cram-md5; do
	capture msmtp "success-$acct" success "$MSMTP -a $acct $RCPT < $WORK/msg.eml"
done
for acct in wrong-password unknown-ca wrong-name pin-mismatch implicit-tls-on-starttls-port starttls-on-implicit-port handshake-aborted starttls-not-offered; do
	capture msmtp "$acct" failure "$MSMTP -a $acct $RCPT < $WORK/msg.eml"
done
capture msmtp rejected-recipient failure "$MSMTP -a starttls $REJECT < $WORK/msg.eml"
capture msmtp tempfail-recipient failure "$MSMTP -a starttls $TEMPFAIL < $WORK/msg.eml"
# Without --debug: msmtp --debug prints every line of the message it sends
# (an 11 MiB log); the "logfile -" line and the error message remain.
capture msmtp too-large failure "timeout 30 stdbuf -oL msmtp -C $MSMTPRC -a starttls $RCPT < $WORK/big.eml"

# mailwire send --trace (the session on stderr, the result on stdout). Its
# certificate check is Go's crypto/tls, which has no option to offer only
# ECDSA suites: no handshake-aborted case.
MW="timeout 15 $WORK/mailwire send --timeout 10s --from $FROM"
MW_AUTH="--user $U --password-file $WORK/password"
MW_TLS="--cafile $CA --tls-server-name $NAME"
capture mailwire success-starttls success "$MW $HOST:$SUB_PORT --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire success-implicit-tls success "$MW $HOST:$TLS_PORT --security implicit --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire success-plain-port success "$MW $HOST:$PLAIN_PORT --security plain --allow-insecure-auth --to $RCPT $MW_AUTH --message $WORK/msg.eml --trace"
capture mailwire success-explain success "$MW $HOST:$SUB_PORT --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --explain"
capture mailwire wrong-password failure "WRONG=wrong-password $MW $HOST:$SUB_PORT --to $RCPT --user $U --password-env WRONG $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire rejected-recipient failure "$MW $HOST:$SUB_PORT --to $REJECT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire tempfail-recipient failure "$MW $HOST:$SUB_PORT --to $TEMPFAIL $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire partly-refused failure "$MW $HOST:$SUB_PORT --to $RCPT --to $REJECT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire too-large failure "$MW $HOST:$SUB_PORT --to $RCPT $MW_AUTH $MW_TLS --message $WORK/big.eml --trace"
capture mailwire unknown-ca failure "$MW $HOST:$SUB_PORT --to $RCPT $MW_AUTH --tls-server-name $NAME --message $WORK/msg.eml --trace"
capture mailwire wrong-name failure "$MW $HOST:$SUB_PORT --to $RCPT $MW_AUTH --cafile $CA --tls-server-name $WRONG_NAME --message $WORK/msg.eml --trace"
capture mailwire pin-mismatch failure "$MW $HOST:$SUB_PORT --to $RCPT $MW_AUTH $MW_TLS --pin $WRONG_PIN --message $WORK/msg.eml --trace"
capture mailwire implicit-tls-on-starttls-port failure "$MW $HOST:$SUB_PORT --security implicit --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire starttls-on-implicit-port failure "$MW $HOST:$TLS_PORT --security starttls --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire starttls-not-offered failure "$MW $HOST:$PLAIN_PORT --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"
capture mailwire client-cert-required failure "$MW $HOST:$CCERT_PORT --to $RCPT $MW_AUTH $MW_TLS --message $WORK/msg.eml --trace"

# ---------------------------------------------------------------------------
# 5. README
# ---------------------------------------------------------------------------
{
	cat <<EOF
# Captured logs of SMTP tools

Generated by \`scripts/capture-explain-logs.sh\` on $(date -u +%Y-%m-%d) — do
not edit; rerun the script (as root) to capture them again. Every file is the
merged stdout and stderr of one real run against the test Postfix of
\`scripts/postfix/up.sh\` (Postfix $(postconf -c "$STATEDIR/postfix-etc" -h mail_version 2>/dev/null || echo '?'), 127.0.0.1: $SUB_PORT STARTTLS, $TLS_PORT implicit
TLS, $PLAIN_PORT plain; $CCERT_PORT, added for this capture only: STARTTLS
and a client certificate required), exactly as the tool printed it. The password
\`$P\` of user \`$U\` is the test server's throwaway credential.
"expect" is what the case is about; "exit" is the tool's exit code (124:
killed by \`timeout\`).

## Tool versions

EOF
	for t in curl openssl gnutls-cli swaks msmtp mailwire; do
		printf -- '- %s: %s\n' "$t" "\`${VERSION[$t]}\`"
	done
	cat <<EOF

## Files

| file | expect | exit | command |
| --- | --- | --- | --- |
EOF
	printf '%s\n' "${ROWS[@]}"
	cat <<EOF

## Inputs

\`$WORK/msg.eml\` is a short message; \`$WORK/big.eml\` the same
headers and 11 MiB of 76-character lines (the limit is
$MAILWIRE_POSTFIX_SIZE_LIMIT bytes).

\`dialogue\` (fed to openssl s_client and gnutls-cli on stdin; AUTH_PLAIN is
the base64 of "\\0$U\\0$P", AUTH_PLAIN_BAD the same with a wrong password):

\`\`\`bash
$(declare -f dialogue)
\`\`\`

\`$MSMTPRC\` (one msmtp account per case):

\`\`\`
$(cat "$MSMTPRC")
\`\`\`
EOF
} >"$OUT/README.md"

log "$(find "$OUT" -name '*.txt' | wc -l) logs in $OUT"
