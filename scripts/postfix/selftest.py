#!/usr/bin/env python3
"""Smoke test for the server started by up.sh (stdlib only).

    python3 scripts/postfix/selftest.py [STATEDIR]

Prints the EHLO replies of every port and checks AUTH (PLAIN, LOGIN,
CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256), delivery to the Maildir, the
reject@/relay/size rules, SMTPUTF8 and CHUNKING. Exits non-zero on failure.
It is a debugging aid for the scripts, not part of the Go test suite.
"""
import base64
import glob
import hashlib
import hmac
import os
import secrets
import smtplib
import socket
import ssl
import sys
import time

STATEDIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mailwire-postfix"
env = {}
with open(os.path.join(STATEDIR, "env")) as f:
    for line in f:
        k, _, v = line.strip().partition("=")
        env[k] = v


def hostport(key):
    h, _, p = env[key].rpartition(":")
    return h, int(p)


SUB, SMTPS, PLAIN = (hostport(k) for k in (
    "MAILWIRE_POSTFIX_SUBMISSION", "MAILWIRE_POSTFIX_SMTPS", "MAILWIRE_POSTFIX_PLAIN"))
USER, PASS = env["MAILWIRE_POSTFIX_USER"], env["MAILWIRE_POSTFIX_PASS"]
MAILDIR = env["MAILWIRE_POSTFIX_MAILDIR"]
RELAY_MAILDIR = env["MAILWIRE_POSTFIX_RELAY_MAILDIR"]
CTX = ssl.create_default_context(cafile=env["MAILWIRE_POSTFIX_CA"])
TLS_NAME = env.get("MAILWIRE_POSTFIX_TLS_NAME", "localhost")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# ---------------------------------------------------------------- raw EHLO --
class Raw:
    """Line-level SMTP, to show replies exactly as sent."""

    def __init__(self, addr, implicit_tls=False):
        s = socket.create_connection(addr, timeout=10)
        if implicit_tls:
            s = CTX.wrap_socket(s, server_hostname=TLS_NAME)
        self.s = s
        self.f = s.makefile("rb")
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline().decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n")
        return self.reply()

    def starttls(self):
        r = self.cmd("STARTTLS")
        self.s = CTX.wrap_socket(self.s, server_hostname=TLS_NAME)
        self.f = self.s.makefile("rb")
        return r

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        self.s.close()


def show(title, lines):
    print(f"--- {title}")
    for l in lines:
        print("    " + l)


r = Raw(SUB)
show("2587 greeting", r.greeting)
e = r.cmd("EHLO client.example")
show("2587 EHLO before STARTTLS", e)
check(not any("AUTH" in l for l in e), "2587: no AUTH before STARTTLS")
check(any("STARTTLS" in l for l in e), "2587: STARTTLS offered")
a = r.cmd("AUTH PLAIN " + base64.b64encode(f"\0{USER}\0{PASS}".encode()).decode())
show("2587 AUTH PLAIN before STARTTLS", a)
check(a[0][:1] == "5", "2587: AUTH refused before STARTTLS")
show("2587 STARTTLS", r.starttls())
e = r.cmd("EHLO client.example")
show("2587 EHLO after STARTTLS", e)
check(any(l[4:].startswith("AUTH ") for l in e), "2587: AUTH after STARTTLS")
r.close()

r = Raw(SMTPS, implicit_tls=True)
show("2465 greeting", r.greeting)
e = r.cmd("EHLO client.example")
show("2465 EHLO (implicit TLS)", e)
check(any(l[4:].startswith("AUTH ") for l in e), "2465: AUTH offered")
check(not any("STARTTLS" in l for l in e), "2465: no STARTTLS inside TLS")
r.close()

r = Raw(PLAIN)
show("2525 greeting", r.greeting)
e = r.cmd("EHLO client.example")
show("2525 EHLO (plain)", e)
check(any(l[4:].startswith("AUTH ") for l in e), "2525: AUTH offered in clear")
check(not any("STARTTLS" in l for l in e), "2525: no STARTTLS")
c = r.cmd("STARTTLS")
show("2525 STARTTLS", c)
check(c[0][:1] == "5", "2525: STARTTLS refused")
r.close()


# ---------------------------------------------------------------- AUTH --
def scram(hashname):
    """An smtplib authobject doing SCRAM-<hashname> (RFC 5802), no channel binding."""
    h = getattr(hashlib, hashname)
    state = {"step": 0}
    cnonce = base64.b64encode(secrets.token_bytes(18)).decode()
    bare = f"n={USER},r={cnonce}"

    def obj(challenge=None):
        step = state["step"]
        state["step"] += 1
        if step == 0:
            return "n,," + bare
        if step == 1:
            server_first = challenge.decode()
            attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
            assert attrs["r"].startswith(cnonce)
            salted = hashlib.pbkdf2_hmac(hashname, PASS.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.new(salted, b"Client Key", h).digest()
            stored = h(client_key).digest()
            without_proof = "c=biws,r=" + attrs["r"]
            msg = ",".join([bare, server_first, without_proof]).encode()
            sig = hmac.new(stored, msg, h).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, sig))
            server_key = hmac.new(salted, b"Server Key", h).digest()
            state["want"] = base64.b64encode(hmac.new(server_key, msg, h).digest()).decode()
            return without_proof + ",p=" + base64.b64encode(proof).decode()
        # server-final: verify the server signature, answer with empty line
        state["verified"] = challenge.decode() == "v=" + state["want"]
        return ""

    return obj, state


def connect_sub():
    s = smtplib.SMTP(*SUB, timeout=15)
    s._host = TLS_NAME  # hostname used for certificate verification
    s.ehlo("client.example")
    s.starttls(context=CTX)
    s.ehlo("client.example")
    return s


def conn(port):
    if port == SUB:
        return connect_sub()
    if port == SMTPS:
        s = smtplib.SMTP_SSL(TLS_NAME, SMTPS[1], context=CTX, timeout=15)
    else:
        s = smtplib.SMTP(*port, timeout=15)
    s.ehlo("client.example")
    return s


for port in (SUB, SMTPS, PLAIN):
    s = conn(port)
    mechs = s.esmtp_features.get("auth", "")
    print(f"--- {port[1]} AUTH mechanisms: {mechs}")
    s.close()
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"):
        if mech not in mechs.split():
            check(False, f"{port[1]}: {mech} advertised")
            continue
        s = conn(port)
        s.user, s.password = USER, PASS
        state = {}
        try:
            if mech.startswith("SCRAM"):
                obj, state = scram("sha1" if mech == "SCRAM-SHA-1" else "sha256")
                code, msg = s.auth(mech, obj, initial_response_ok=True)
            else:
                code, msg = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
            ok = code == 235 and state.get("verified", True)
            check(ok, f"{port[1]}: AUTH {mech} as {USER} -> {code} {msg.decode()}"
                  + (" (server signature verified)" if state.get("verified") else ""))
        except smtplib.SMTPException as ex:
            check(False, f"{port[1]}: AUTH {mech}: {ex!r}")
        s.close()
    s = conn(port)
    try:
        s.login(USER, "wrong-password")
        check(False, f"{port[1]}: wrong password refused")
    except smtplib.SMTPAuthenticationError as ex:
        check(ex.smtp_code == 535, f"{port[1]}: wrong password -> {ex.smtp_code} {ex.smtp_error.decode()}")
    s.close()


# ---------------------------------------------------------------- delivery --
def wait_for(maildir, token, rcpt=None, timeout=10):
    """Path of the delivered file containing token (and Delivered-To: rcpt)."""
    end = time.time() + timeout
    while time.time() < end:
        for p in glob.glob(os.path.join(maildir, "new", "*")):
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if token.encode() in data and (
                    rcpt is None or f"delivered-to: {rcpt}\n".lower().encode() in data.lower()):
                return p
        time.sleep(0.05)
    return None


def message(to, token, extra=b""):
    return (f"From: tester@client.example\r\nTo: {to}\r\nSubject: {token}\r\n"
            f"Message-ID: <{token}@client.example>\r\n\r\nbody {token}\r\n").encode() + extra


for port, auth in ((PLAIN, False), (SUB, False), (SMTPS, False), (PLAIN, True), (SUB, True), (SMTPS, True)):
    token = "t" + secrets.token_hex(8)
    s = conn(port)
    if auth:
        s.login(USER, PASS)
    s.sendmail("tester@client.example", ["Bob@mailwire.test"], message("bob@mailwire.test", token))
    s.quit()
    p = wait_for(MAILDIR, token, "bob@mailwire.test")
    check(p is not None, f"{port[1]} auth={auth}: message to bob@mailwire.test delivered -> {p}")

# reject@ -> 550 5.1.1 on every port
for port in (PLAIN, SUB, SMTPS):
    s = conn(port)
    s.mail("tester@client.example")
    code, msg = s.rcpt("reject@mailwire.test")
    check(code == 550 and msg.startswith(b"5.1.1"), f"{port[1]}: RCPT reject@mailwire.test -> {code} {msg.decode()}")
    s.quit()

# relay: refused without AUTH, accepted (into maildir/_relay) with AUTH
for port in (PLAIN, SUB, SMTPS):
    s = conn(port)
    s.mail("tester@client.example")
    code, msg = s.rcpt("x@example.com")
    check(code == 554 and msg.startswith(b"5.7.1"), f"{port[1]} no auth: RCPT x@example.com -> {code} {msg.decode()}")
    s.quit()
token = "r" + secrets.token_hex(8)
s = conn(SUB)
s.login(USER, PASS)
s.mail("alice@mailwire.test")
code, msg = s.rcpt("x@example.com")
check(code == 250, f"2587 auth: RCPT x@example.com -> {code} {msg.decode()}")
code, msg = s.data(message("x@example.com", token))
s.quit()
check(wait_for(RELAY_MAILDIR, token, "x@example.com") is not None,
      "authenticated relay lands in relay-maildir (nothing leaves the host)")

# size limit: declared SIZE is refused at MAIL; undeclared at end of DATA
big = b"X" * 76 + b"\r\n"
body = big * (11 * 1024 * 1024 // len(big) + 1)
s = conn(PLAIN)
code, msg = s.mail("tester@client.example", [f"SIZE={len(body)}"])
check(code == 552, f"MAIL FROM SIZE={len(body)} -> {code} {msg.decode()}")
s.quit()
s = conn(PLAIN)
s.mail("tester@client.example")
s.rcpt("bob@mailwire.test")
code, msg = s.data(message("bob@mailwire.test", "big") + body)
check(code == 552, f"11 MiB DATA without SIZE -> {code} {msg.decode()}")
s.quit()

# SMTPUTF8 + 8BITMIME: UTF-8 local part
token = "u" + secrets.token_hex(8)
s = conn(PLAIN)
code, msg = s.mail("tëster@client.example", ["SMTPUTF8", "BODY=8BITMIME"])
check(code == 250, f"MAIL FROM with SMTPUTF8 BODY=8BITMIME -> {code} {msg.decode()}")
code, msg = s.rcpt("jürgen@mailwire.test")
check(code == 250, f"RCPT jürgen@mailwire.test -> {code} {msg.decode()}")
code, msg = s.data(message("jürgen@mailwire.test", token, "grüße\r\n".encode()))
check(code == 250, f"DATA -> {code} {msg.decode()}")
s.quit()
check(wait_for(MAILDIR, token, "jürgen@mailwire.test") is not None,
      "UTF-8 local part delivered (Delivered-To: jürgen@mailwire.test)")

# CHUNKING: BDAT
token = "c" + secrets.token_hex(8)
r = Raw(PLAIN)
r.cmd("EHLO client.example")
for c in ("MAIL FROM:<tester@client.example> BODY=8BITMIME RET=HDRS ENVID=e1",
          "RCPT TO:<carol@mailwire.test> NOTIFY=FAILURE ORCPT=rfc822;carol@mailwire.test"):
    rep = r.cmd(c)
    check(rep[0].startswith("250"), f"{c} -> {rep[0]}")
m = message("carol@mailwire.test", token)
r.s.sendall(f"BDAT {len(m)} LAST\r\n".encode() + m)
rep = r.reply()
check(rep[0].startswith("250"), f"BDAT ... LAST -> {rep[0]}")
r.close()
check(wait_for(MAILDIR, token, "carol@mailwire.test") is not None,
      "BDAT message delivered to carol")

print()
if failures:
    print(f"{len(failures)} check(s) FAILED")
    sys.exit(1)
print("all checks passed")
