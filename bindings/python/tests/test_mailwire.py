"""Tests of the mailwire Python package against the smtptest helper server
(bindings/c/test/server).

    MAILWIRE_LIB=/path/libmailwire.so MAILWIRE_TEST_SERVER=/path/server \\
        python3 -m unittest discover -s bindings/python/tests -v

Without MAILWIRE_LIB or MAILWIRE_TEST_SERVER, the missing piece is built
with the go tool into a temporary directory (scripts/test-bindings.sh
builds both and sets them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
INSTALLED = os.environ.get("MAILWIRE_TEST_INSTALLED") == "1"  # test the pip-installed package
if not INSTALLED:
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import mailwire  # noqa: E402

if INSTALLED and os.path.abspath(mailwire.__file__).startswith(ROOT + os.sep):
    raise ImportError(f"MAILWIRE_TEST_INSTALLED=1, but mailwire comes from the repository: {mailwire.__file__}")

_build_dir = None


def _build(target: str, *args: str) -> str:
    """Builds a piece with the go tool, for a run without the script."""
    global _build_dir
    if _build_dir is None:
        _build_dir = tempfile.mkdtemp(prefix="mailwire-py-test-")
    out = os.path.join(_build_dir, target)
    go = shutil.which("go") or "/usr/local/go/bin/go"
    subprocess.run([go, "build", *args, "-o", out, "./bindings/c" if target.endswith(".so") else "./bindings/c/test/server"],
                   cwd=ROOT, check=True)
    return out


class Server:
    """A running helper server; stop() ends it and returns the messages it
    received."""

    def __init__(self, *flags: str):
        fd, self.messages_file = tempfile.mkstemp(prefix="mailwire-py-messages-", suffix=".json")
        os.close(fd)
        self.proc = subprocess.Popen([SERVER, "-messages", self.messages_file, *flags],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise RuntimeError("the test server did not start")
        self.info = json.loads(line)
        self.addr = self.info["addr"]
        self.ca_pem = self.info["ca_pem"]
        self.pin = self.info["pin"]
        self.user = self.info["user"]
        self.password = self.info["password"]

    def options(self, **kw) -> dict:
        o = dict(security="starttls", ca_pem=self.ca_pem, pins=[self.pin], user=self.user,
                 password=self.password, local_name="py-test.example", timeout=30)
        o.update(kw)
        return o

    def stop(self) -> list:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()
        try:
            with open(self.messages_file) as f:
                return json.load(f)
        finally:
            os.unlink(self.messages_file)


SERVER = ""
server: Server = None  # the main server, shared by the tests
sent = 0  # messages the main server accepted
sent_lock = threading.Lock()


def count_sent(n: int = 1) -> None:
    global sent
    with sent_lock:
        sent += n


def setUpModule():
    global SERVER, server
    if not os.environ.get("MAILWIRE_LIB") and not any(os.path.exists(p) for p in mailwire._native.candidates()[1:]):
        os.environ["MAILWIRE_LIB"] = _build("libmailwire.so", "-buildmode=c-shared")
    SERVER = os.environ.get("MAILWIRE_TEST_SERVER") or _build("server")
    server = Server()


def tearDownModule():
    msgs = server.stop()
    if _build_dir:
        shutil.rmtree(_build_dir, ignore_errors=True)
    # Checked here, once every test has sent what it sends.
    if len(msgs) != sent:
        raise AssertionError(f"the server recorded {len(msgs)} messages, the tests sent {sent}")
    for m in msgs:
        if not (m["tls"] and m["auth_user"] == server.user and m["helo"] == "py-test.example"):
            raise AssertionError(f"message not sent over TLS as alice from py-test.example: {m}")


MSG = b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: mailwire Python test\r\n\r\nHello from Python.\r\n"


class ClientTest(unittest.TestCase):
    def test_send_receipt(self):
        with mailwire.Client(server.addr, **server.options()) as c:
            r = c.send("alice@example.com", ["bob@example.net", server.info["rejected"]], MSG)
        count_sent()
        self.assertIsInstance(r, mailwire.Receipt)
        self.assertEqual(r.accepted, ["bob@example.net"])
        self.assertEqual(r.rejected, [mailwire.RejectedRecipient("nobody@example.net", 550, (5, 1, 1), "No such user")])
        self.assertEqual(r.reply_code, 250)
        self.assertEqual(r.reply_enhanced_code, (2, 0, 0))
        self.assertRegex(r.reply_message, r"^OK: queued as Q\d{4}$")
        self.assertRegex(r.queue_id, r"^Q\d{4}$")
        self.assertIn(r.queue_id, r.reply_message)
        self.assertTrue(c.closed)

    def test_trace(self):
        events = []
        conns = set()

        def trace(e):
            events.append((e.kind, e.line))
            conns.add(e.conn)

        with mailwire.Client(server.addr, **server.options(trace=trace)) as c:
            c.send("alice@example.com", "bob@example.net", MSG)
        count_sent()
        self.assertIn(("sent", "AUTH PLAIN [redacted]"), events)
        self.assertIn(("sent", "STARTTLS"), events)
        self.assertIn(("sent", "QUIT"), events)
        self.assertIn(("closed", "closed"), events)
        self.assertTrue(any(k == "received" and line.startswith("250 2.0.0 OK: queued as Q") for k, line in events))
        self.assertEqual(len(conns), 1)  # one connection, one id
        self.assertGreater(conns.pop(), 0)
        self.assertTrue(any(k == "pin-check" and line.startswith("matched sha256//") for k, line in events))
        self.assertTrue(all(isinstance(k, str) and isinstance(line, str) for k, line in events))
        self.assertFalse([e for e in events if server.password in e[1]], "the password reached the trace")
        self.assertEqual(events[0][0], "connect-start")

    def test_several_messages_and_message_types(self):
        with mailwire.Client(server.addr, **server.options()) as c:
            for msg in (MSG, bytearray(MSG), memoryview(MSG), MSG.decode()):
                r = c.send("alice@example.com", ["bob@example.net"], msg)
                count_sent()
                self.assertEqual(r.accepted, ["bob@example.net"])
            r = c.send("", ["bob@example.net"], b"Subject: null sender\r\n\r\nx\r\n")
            count_sent()
            self.assertEqual(r.reply_code, 250)
            with self.assertRaises(TypeError):
                c.send("alice@example.com", ["bob@example.net"], 42)

    def test_every_recipient_refused(self):
        with mailwire.Client(server.addr, **server.options()) as c:
            with self.assertRaises(mailwire.PermanentError) as cm:
                c.send("alice@example.com", [server.info["rejected"]], MSG)
        e = cm.exception
        self.assertIsInstance(e, mailwire.SMTPError)
        self.assertEqual((e.code, e.enhanced_code, e.command, e.message), (550, (5, 1, 1), "RCPT TO", "No such user"))
        self.assertEqual([r.address for r in e.rejected], ["nobody@example.net"])
        self.assertIn("550 5.1.1", str(e))

        with mailwire.Client(server.addr, **server.options()) as c:
            with self.assertRaises(mailwire.TemporaryError) as cm:
                c.send("alice@example.com", [server.info["temp_rejected"]], MSG)
        self.assertEqual((cm.exception.code, cm.exception.enhanced_code), (450, (4, 2, 1)))

    def test_bad_arguments(self):
        with mailwire.Client(server.addr, **server.options()) as c:
            with self.assertRaises(mailwire.InvalidArgumentError):
                c.send("alice@example.com", [], MSG)
            with self.assertRaises(ValueError):  # InvalidArgumentError is a ValueError
                c.send("alice@example.com", ["bob@exa\r\nmple.net"], MSG)
            with self.assertRaises(mailwire.InvalidArgumentError):
                c.send("alice@example.com", ["bob@example.net"], MSG, timeout=-1)
        with self.assertRaises(mailwire.InvalidArgumentError) as cm:
            mailwire.Client(server.addr, **server.options(security="tls-please"))
        self.assertIn("unknown security", str(cm.exception))
        with self.assertRaises(mailwire.InvalidArgumentError) as cm:
            mailwire.Client(server.addr, **server.options(pins=["sha256//short"]))
        self.assertIn("pin", str(cm.exception))
        with self.assertRaises(mailwire.InvalidArgumentError):
            mailwire.Client("no-port", **server.options())
        with self.assertRaises(TypeError):
            mailwire.Client(server.addr, securty="starttls")

    def test_wrong_pin(self):
        events = []
        with self.assertRaises(mailwire.TLSError) as cm:
            mailwire.Client(server.addr, **server.options(pins="sha256//" + "A" * 43 + "=",
                                                          trace=lambda e: events.append((e.kind, e.line))))
        self.assertIn("pin mismatch", str(cm.exception))
        self.assertIsNone(cm.exception.code)
        self.assertFalse([e for e in events if e[1].startswith("AUTH")], "AUTH sent despite the wrong pin")

    def test_untrusted_certificate(self):
        with self.assertRaises(mailwire.TLSError) as cm:
            mailwire.Client(server.addr, **server.options(ca_pem=None, pins=None))
        self.assertIn("unknown authority", str(cm.exception))
        # The remedy is worded in this package's arguments, not Go's.
        self.assertEqual(cm.exception.remedy, "trust_certificate")
        self.assertIn("give its CA in ca_pem, or pin its key with pins", str(cm.exception))
        self.assertNotIn("Options.", str(cm.exception))
        self.assertNotIn("TLSConfig", str(cm.exception))

    def test_wrong_password(self):
        with self.assertRaises(mailwire.AuthError) as cm:
            mailwire.Client(server.addr, **server.options(password="wrong"))
        self.assertEqual((cm.exception.code, cm.exception.command), (535, "AUTH"))

    def test_insecure_auth_refused(self):
        with self.assertRaises(mailwire.AuthError):
            mailwire.Client(server.addr, security="plain", user="alice", password="x")

    def test_connection_refused(self):
        with self.assertRaises(mailwire.NetworkError):
            mailwire.Client("127.0.0.1:1", security="plain")

    def test_message_too_large(self):
        with mailwire.Client(server.addr, **server.options()) as c:
            with self.assertRaises(mailwire.MessageTooLargeError) as cm:
                c.send("alice@example.com", "bob@example.net", b"x" * (11 << 20))  # the server takes 10 MiB
        self.assertIsInstance(cm.exception, mailwire.PermanentError)
        self.assertIn("larger than the server accepts", str(cm.exception))

    def test_closed(self):
        c = mailwire.Client(server.addr, **server.options())
        c.close()
        c.close()
        with self.assertRaises(mailwire.ClosedError):
            c.send("alice@example.com", ["bob@example.net"], MSG)

    def test_event_names(self):
        self.assertEqual([mailwire.event_name(k) for k in (0, 6, 7, 12, 99)],
                         ["connect-start", "sent", "received", "closed", "unknown"])


class OwnServerTest(unittest.TestCase):
    """Tests that need a server of their own."""

    def test_send_after_every_recipient_refused(self):
        """The client is ready for the next message after a refusal.

        This found a bug of the Go library, now fixed: over CHUNKING no RSET
        followed a BDAT transaction whose every recipient was refused, so the
        next message was delivered in the stale transaction.
        """
        s = Server()
        try:
            with mailwire.Client(s.addr, **s.options()) as c:
                with self.assertRaises(mailwire.PermanentError):
                    c.send("alice@example.com", [s.info["rejected"]], MSG)
                c.send("", ["carol@example.net"], MSG)
        finally:
            msgs = s.stop()
        self.assertEqual([m["from"] for m in msgs], [""])

    def test_delivery_unknown(self):
        s = Server("-drop-at=AFTERDATA")
        try:
            with self.assertRaises(mailwire.DeliveryUnknownError):
                with mailwire.Client(s.addr, **s.options()) as c:
                    c.send("alice@example.com", ["bob@example.net"], MSG)
        finally:
            msgs = s.stop()
        self.assertEqual(len(msgs), 1, "the server did record the message: delivery was unknown, not failed")

    def test_timeout(self):
        s = Server("-reply-delay=3s")
        try:
            with self.assertRaises(mailwire.SMTPTimeoutError) as cm:
                mailwire.Client(s.addr, security="plain", timeout=0.2)
            self.assertIsInstance(cm.exception, TimeoutError)
            with self.assertRaises(TimeoutError):
                mailwire.Client(s.addr, security="plain", reply_timeout=0.2)
        finally:
            s.stop()


class PoolTest(unittest.TestCase):
    def test_four_threads(self):
        lock = threading.Lock()
        events = []

        conns = set()

        def trace(e):
            with lock:
                events.append((e.kind, e.line))
                conns.add(e.conn)

        receipts, errors = [], []
        with mailwire.Pool(server.addr, max_conns=2, max_messages_per_conn=4, trace=trace, **server.options()) as pool:
            def work(n):
                for i in range(5):
                    try:
                        r = pool.send("alice@example.com", ["bob@example.net"], MSG + f"thread {n} message {i}\r\n".encode())
                        with lock:
                            receipts.append(r)
                    except mailwire.SMTPError as e:
                        with lock:
                            errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        count_sent(len(receipts))
        self.assertEqual(errors, [])
        self.assertEqual(len(receipts), 20)
        self.assertEqual(len({r.queue_id for r in receipts}), 20)
        self.assertIn(("sent", "AUTH PLAIN [redacted]"), events)
        self.assertIn(("reused", "reused"), events)
        self.assertGreaterEqual(len(conns), 5)  # 20 messages, 4 a connection: the ids tell them apart
        self.assertFalse([e for e in events if server.password in e[1]])
        self.assertTrue(pool.closed)
        with self.assertRaises(mailwire.ClosedError):
            pool.send("alice@example.com", ["bob@example.net"], MSG)

    def test_bad_pool_options(self):
        with self.assertRaises(mailwire.InvalidArgumentError) as cm:
            mailwire.Pool(server.addr, max_conns=-1, **server.options())
        self.assertIn("pool_options_json", str(cm.exception))


if __name__ == "__main__":
    unittest.main()


class MessageTest(unittest.TestCase):
    """send_message and ca_file, on a server of their own."""

    def test_send_message_keeps_bcc_off_the_content(self):
        from email.message import EmailMessage

        msg = EmailMessage()
        msg["From"] = "Alice <alice@example.com>"
        msg["To"] = "Bob <bob@example.net>"
        msg["Cc"] = "carol@example.net"
        msg["Bcc"] = "secret-bcc@example.net"
        msg["Subject"] = "send_message"
        msg.set_content("Hi.\n")
        s = Server()
        try:
            with mailwire.Client(s.addr, **s.options()) as c:
                r = c.send_message(msg)
            self.assertEqual(sorted(r.accepted), ["bob@example.net", "carol@example.net", "secret-bcc@example.net"])
            self.assertEqual(msg["Bcc"], "secret-bcc@example.net", "the caller's message was changed")
        finally:
            msgs = s.stop()
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["from"], "alice@example.com")
        self.assertEqual(sorted(m["to"]), ["bob@example.net", "carol@example.net", "secret-bcc@example.net"])
        self.assertNotIn("secret-bcc", m["raw"])
        self.assertNotIn("Bcc", m["raw"])
        self.assertIn("\r\n", m["raw"])

    def test_ca_file(self):
        s = Server()
        try:
            with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
                f.write(s.ca_pem)
            try:
                opts = s.options(ca_pem=None, ca_file=f.name)
                with mailwire.Client(s.addr, **opts) as c:
                    c.send("alice@example.com", ["bob@example.net"], MSG)
                with self.assertRaises(mailwire.InvalidArgumentError):
                    mailwire.Client(s.addr, **s.options(ca_file=f.name))  # and ca_pem: one or the other
            finally:
                os.unlink(f.name)
        finally:
            self.assertEqual(len(s.stop()), 1)


class AsyncioTest(unittest.TestCase):
    def test_sends_overlap_on_one_loop(self):
        """Four sends through aio.Pool on one event loop take about as long
        as one: none blocks the loop, and the library releases the GIL."""
        import asyncio
        import time

        from mailwire import aio

        delay = 0.3  # every reply of this server comes that late
        s = Server(f"-reply-delay={int(delay * 1000)}ms")

        async def main():
            async with await aio.Pool.open(s.addr, max_conns=4, **s.options()) as pool:
                await pool.send("alice@example.com", ["bob@example.net"], MSG)  # a first connection, warm
                ticks = 0

                async def ticker():  # runs only while the loop is free
                    nonlocal ticks
                    while True:
                        await asyncio.sleep(0.01)
                        ticks += 1

                t = asyncio.create_task(ticker())
                start = time.monotonic()
                await asyncio.gather(*(pool.send("alice@example.com", ["bob@example.net"], MSG) for _ in range(4)))
                took = time.monotonic() - start
                t.cancel()
                return took, ticks

        try:
            took, ticks = asyncio.run(main())
        finally:
            msgs = s.stop()
        self.assertEqual(len(msgs), 5)
        # A send over a warm connection waits 3 replies (3 x delay), one
        # over a new connection 8 (greeting, EHLO, STARTTLS, EHLO, AUTH, and
        # the 3): in turn, the four would take 3 + 3 x 8 = 27 x delay; at
        # once, about 8 x delay (measured: 2.4 s with delay 0.3 s).
        self.assertLess(took, 16 * delay, f"four sends took {took:.2f}s: they did not overlap")
        self.assertGreater(ticks, took / 0.01 / 4, f"the loop ran only {ticks} ticks in {took:.2f}s: it was blocked")
