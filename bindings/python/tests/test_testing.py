"""Tests of mailwire.testing: `mailwire serve` as a test server for any
Python test, reached through smtplib and through mailwire itself.

MAILWIRE_BIN names the mailwire command (scripts/test-bindings.sh builds it);
without it, it is built with the go tool into a temporary directory.
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
if os.environ.get("MAILWIRE_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import mailwire  # noqa: E402
from mailwire.testing import Server, ServerError  # noqa: E402

if not os.environ.get("MAILWIRE_BIN"):
    _dir = tempfile.mkdtemp(prefix="mailwire-testing-")
    subprocess.run(["go", "build", "-o", os.path.join(_dir, "mailwire"), "./cmd/mailwire"], cwd=ROOT, check=True)
    os.environ["MAILWIRE_BIN"] = os.path.join(_dir, "mailwire")

MSG = "From: ann@example.com\r\nTo: bob@example.com\r\nSubject: {}\r\n\r\nhello\r\n"


class ServeTest(unittest.TestCase):
    def test_smtplib_and_mailwire_faults_and_magic(self) -> None:
        with Server() as srv:
            # Through smtplib: a magic recipient fails at RCPT, the other gets it.
            with smtplib.SMTP(srv.host, srv.port) as s:
                refused = s.sendmail("ann@example.com", ["bob@example.com", "carol+permfail@example.com"], MSG.format("smtplib"))
            self.assertEqual(refused["carol+permfail@example.com"][0], 550)
            got = srv.wait(1)
            self.assertEqual(got[0]["subject"], "smtplib")
            self.assertEqual(got[0]["to"], ["bob@example.com"])

            # A fault set at runtime: the next MAIL is refused once.
            srv.set_fault(step="MAIL", code=451, enhanced_code="4.7.1", message="slow down", times=1)
            with mailwire.Client(f"{srv.host}:{srv.port}", security="plain") as c:
                with self.assertRaises(mailwire.SMTPError) as cm:
                    c.send("ann@example.com", ["bob@example.com"], MSG.format("refused"))
                self.assertIn("451 4.7.1 slow down", str(cm.exception))
                r = c.send("ann@example.com", ["bob@example.com", "dan+tempfail@example.com"], MSG.format("mailwire"))
            self.assertEqual(r.accepted, ["bob@example.com"])
            self.assertEqual(r.rejected[0].code, 451)
            msgs = srv.wait(2)
            second = srv.message(msgs[1]["id"])
            self.assertEqual(second["subject"], "mailwire")
            self.assertEqual(second["parts"][0]["text"], "hello\r\n")
            self.assertTrue(srv.raw(msgs[1]["id"]).endswith(b"\r\n\r\nhello\r\n"))
            self.assertTrue(any(line.startswith("C: MAIL FROM:") for line in srv.transcript(msgs[1]["id"])))

            srv.clear_faults()
            srv.delete()
            self.assertEqual(srv.messages(), [])
            with self.assertRaises(ServerError):
                srv.wait(1, timeout=0.2)

    def test_tls_and_auth(self) -> None:
        with Server(tls="starttls", users={"ann": "s3cret"}) as srv:
            self.assertIn("BEGIN CERTIFICATE", srv.ca_pem)
            with mailwire.Client(f"{srv.host}:{srv.port}", security="starttls", ca_pem=srv.ca_pem, user="ann", password="s3cret") as c:
                c.send("ann@example.com", ["bob@example.com"], MSG.format("tls"))
            m = srv.wait(1)[0]
            self.assertTrue(m["tls"])
            self.assertEqual(m["auth_user"], "ann")


if __name__ == "__main__":
    unittest.main()
