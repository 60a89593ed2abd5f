"""A test SMTP server for Python tests: `mailwire serve` as a subprocess,
and a client of its HTTP API.

    from mailwire.testing import Server

    with Server() as srv:                      # mailwire serve, on free ports
        smtplib.SMTP(srv.host, srv.port).sendmail(...)
        msgs = srv.wait(1)                     # what arrived
        srv.set_fault(step="MAIL", code=451, enhanced_code="4.7.1", times=1)

The `mailwire` command is found through $MAILWIRE_BIN, else on PATH
(`go install github.com/mailwire/smtp/cmd/mailwire@latest`). Recipients
named tempfail@, permfail@ or timeout@ (or ...+tempfail@) fail that way
without any setting. Only the standard library is used.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any, Dict, List, Optional, Type

__all__ = ["Server", "ServerError"]


class ServerError(Exception):
    """mailwire serve could not start, or its API refused a request."""


class Server:
    """Runs `mailwire serve` (plain SMTP by default; tls="starttls" or
    "implicit" for TLS, its CA in ca_pem) until close() or the end of a
    with block."""

    def __init__(self, *, tls: str = "none", users: Optional[Dict[str, str]] = None, binary: Optional[str] = None) -> None:
        exe = binary or os.environ.get("MAILWIRE_BIN") or shutil.which("mailwire")
        if not exe:
            raise ServerError("mailwire not found: set MAILWIRE_BIN, or put the mailwire command on PATH")
        args = [exe, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tls", tls]
        for user, password in (users or {}).items():
            args += ["--user", f"{user}:{password}"]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.host = ""
        self.port = 0
        self.api = ""
        self.pin = ""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "smtp":
                addr = rest.split(" ")[0]
                self.host, _, port = addr.rpartition(":")
                self.port = int(port)
            elif kind == "http":
                self.api = "http://" + rest
            elif kind == "pin":
                self.pin = rest
                break
        if not (self.host and self.api and self.pin):
            self.close()
            raise ServerError("mailwire serve did not start")
        self.ca_pem: str = self._get("/api/server")["ca_pem"]

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, t: Optional[Type[BaseException]], v: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.close()

    def close(self) -> None:
        """Stops the server (SIGTERM) and waits for it."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for f in (self._proc.stdout, self._proc.stderr):
            if f is not None:
                f.close()

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, timeout: float = 30) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise ServerError(f"{method} {path}: {e.code} {e.read().decode('utf-8', 'replace').strip()}") from None
        if not raw or resp.headers.get("Content-Type") != "application/json":
            return raw
        return json.loads(raw)

    def _get(self, path: str, timeout: float = 30) -> Any:
        return self._request("GET", path, timeout=timeout)

    def messages(self) -> List[Dict[str, Any]]:
        """The messages accepted so far, oldest first."""
        result: List[Dict[str, Any]] = self._get("/api/messages")
        return result

    def message(self, id: str) -> Dict[str, Any]:
        """One message, parsed: headers, parts (with their text)."""
        result: Dict[str, Any] = self._get(f"/api/messages/{id}")
        return result

    def raw(self, id: str) -> bytes:
        """One message as received."""
        result: bytes = self._get(f"/api/messages/{id}/raw")
        return result

    def transcript(self, id: str) -> List[str]:
        """The SMTP session the message came in, both sides."""
        result: List[str] = self._get(f"/api/messages/{id}/transcript")["lines"]
        return result

    def wait(self, count: int, timeout: float = 10) -> List[Dict[str, Any]]:
        """Waits until at least count messages arrived (ServerError after
        timeout seconds), and returns them."""
        result: List[Dict[str, Any]] = self._get(f"/api/wait?count={count}&timeout={timeout}s", timeout=timeout + 10)
        return result

    def delete(self) -> None:
        """Forgets every message."""
        self._request("DELETE", "/api/messages")

    def set_fault(self, **fault: Any) -> None:
        """Sets a fault: step= (or recipient=), code=, enhanced_code=,
        message=, times=, probability=, seed= (see SERVE_API.md)."""
        self._request("POST", "/api/faults", fault)

    def clear_faults(self) -> None:
        """Clears every fault."""
        self._request("DELETE", "/api/faults")
