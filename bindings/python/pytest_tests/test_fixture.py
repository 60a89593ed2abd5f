"""The pytest fixtures of the installed mailwire package (mailwire_server,
mailwire_server_factory), used as a user's test suite uses them: nothing
imported to get them; pytest finds them through the package's entry point.

Run by scripts/test-bindings.sh: pytest in a venv where the wheel is
installed, MAILWIRE_BIN naming the mailwire command.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from typing import Callable

import pytest

import mailwire
from mailwire.testing import Server

MSG = "From: ann@example.com\r\nTo: bob@example.com\r\nSubject: {}\r\n\r\nhello\r\n"


def test_the_installed_package_is_tested() -> None:
    if os.environ.get("MAILWIRE_TEST_INSTALLED") == "1":
        assert "site-packages" in mailwire.__file__, mailwire.__file__


def test_smtplib_and_mailwire_with_a_fault_and_magic_recipients(mailwire_server: Server) -> None:
    srv = mailwire_server
    # smtplib: a magic recipient refused at RCPT (550), the other delivered.
    with smtplib.SMTP(srv.host, srv.port) as s:
        refused = s.sendmail("ann@example.com", ["bob@example.com", "carol+permfail@example.com"], MSG.format("by smtplib"))
    assert refused["carol+permfail@example.com"][0] == 550
    [first] = srv.wait(1)
    assert (first["subject"], first["from"], first["to"]) == ("by smtplib", "ann@example.com", ["bob@example.com"])

    # A fault set at runtime: the next DATA's content is refused, once.
    srv.set_fault(step="AFTERDATA", code=554, enhanced_code="5.7.1", message="spam detected", times=1)
    with mailwire.Client(f"{srv.host}:{srv.port}", security="plain") as c:
        with pytest.raises(mailwire.SMTPError) as e:
            c.send("ann@example.com", ["bob@example.com"], MSG.format("refused"))
        assert "554 5.7.1 spam detected" in str(e.value)
        r = c.send("ann@example.com", ["bob@example.com", "dan+tempfail@example.com"], MSG.format("by mailwire"))
    assert r.accepted == ["bob@example.com"]
    assert [(x.address, x.code) for x in r.rejected] == [("dan+tempfail@example.com", 451)]

    msgs = srv.wait(2)
    assert [m["subject"] for m in msgs] == ["by smtplib", "by mailwire"]
    second = srv.message(msgs[1]["id"])
    assert second["headers"]["Subject"] == ["by mailwire"]
    assert second["parts"][0]["text"] == "hello\r\n"
    transcript = srv.transcript(msgs[1]["id"])
    assert "C: RCPT TO:<dan+tempfail@example.com>" in transcript
    assert any(line.startswith("S: 451 4.3.0") for line in transcript)


def test_each_test_gets_its_own_server(mailwire_server: Server) -> None:
    assert mailwire_server.messages() == []


def test_factory_tls_and_auth(mailwire_server_factory: Callable[..., Server]) -> None:
    srv = mailwire_server_factory(tls="starttls", users={"app": "s3cret"})
    ctx = ssl.create_default_context(cadata=srv.ca_pem)
    with smtplib.SMTP(srv.host, srv.port) as s:
        s.starttls(context=ctx)
        s.login("app", "s3cret")
        s.sendmail("app@example.com", ["bob@example.com"], MSG.format("over TLS"))
    [m] = srv.wait(1)
    assert (m["tls"], m["auth_user"]) == (True, "app")
    assert not any("s3cret" in line for line in srv.transcript(m["id"]))


def test_a_rate_limit_then_a_dropped_reply(mailwire_server: Server) -> None:
    srv = mailwire_server
    srv.set_fault(step="MAIL", code=421, enhanced_code="4.7.0", message="slow down", rate=1, per="1m")
    with mailwire.Client(f"{srv.host}:{srv.port}", security="plain") as c:
        c.send("ann@example.com", ["bob@example.com"], MSG.format("one"))
        with pytest.raises(mailwire.SMTPError) as e:
            c.send("ann@example.com", ["bob@example.com"], MSG.format("two"))
    assert "421 4.7.0 slow down" in str(e.value)
    srv.clear_faults()
    srv.set_fault(step="AFTERDATA", drop=True)
    with mailwire.Client(f"{srv.host}:{srv.port}", security="plain") as c:
        with pytest.raises(mailwire.DeliveryUnknownError):
            c.send("ann@example.com", ["bob@example.com"], MSG.format("kept, reply dropped"))
    assert [m["subject"] for m in srv.wait(2)] == ["one", "kept, reply dropped"]
