"""pytest fixtures for tests that send mail: `mailwire serve` started for
each test, and a client of its HTTP API handed to it.

Installing the mailwire package registers this plugin (entry point
pytest11); a test only names the fixture:

    def test_signup_sends_mail(mailwire_server):
        app.signup("bob@example.com", smtp=(mailwire_server.host, mailwire_server.port))
        [msg] = mailwire_server.wait(1)
        assert msg["subject"] == "Welcome"

    def test_over_tls(mailwire_server_factory):
        srv = mailwire_server_factory(tls="starttls", users={"app": "secret"})
        ...

The fixtures need the mailwire command: $MAILWIRE_BIN, or mailwire on PATH.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from .testing import Server

__all__ = ["mailwire_server", "mailwire_server_factory"]


@pytest.fixture
def mailwire_server_factory() -> Iterator[Callable[..., Server]]:
    """A function that starts a `mailwire serve` with Server's arguments
    (tls=, users=, binary=); every server it started stops after the test."""
    started: List[Server] = []

    def start(**kwargs: Any) -> Server:
        srv = Server(**kwargs)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def mailwire_server(mailwire_server_factory: Callable[..., Server]) -> Server:
    """A `mailwire serve` on free ports, plain SMTP without AUTH, for this
    test alone: its host, port and API (messages, wait, set_fault...)."""
    return mailwire_server_factory()
