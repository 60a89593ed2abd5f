"""mailwire: an SMTP client, through libmailwire.so (ctypes).

    import mailwire

    with mailwire.Client("smtp.example.com:587", user="alice", password="...") as c:
        receipt = c.send("alice@example.com", ["bob@example.net"], message_bytes)
    print(receipt.queue_id)

The connection is encrypted by default (mandatory STARTTLS, implicit TLS on
port 465). A server's refusal raises a subclass of SMTPError; recipients the
server refused while others were accepted are listed in Receipt.rejected.

A Client is for one thread at a time; a Pool may be used by many threads.
The library is found through $MAILWIRE_LIB, or next to this package.
"""

from __future__ import annotations

import builtins
import copy
import ctypes
import email.generator
import email.message
import email.utils
import io
import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _native

__all__ = [
    "Client",
    "Pool",
    "Receipt",
    "RejectedRecipient",
    "SMTPError",
    "TemporaryError",
    "PermanentError",
    "MessageTooLargeError",
    "DeliveryUnknownError",
    "TLSError",
    "NetworkError",
    "SMTPTimeoutError",
    "AuthError",
    "ClosedError",
    "InvalidArgumentError",
    "InternalError",
    "event_name",
    "TraceEvent",
]

EnhancedCode = Tuple[int, int, int]


class TraceEvent(NamedTuple):
    """One traced event: kind ("sent", "received", "connect-start", ...),
    the protocol line or a short text, and conn, the connection's id
    (unique in the process: a pool's connections interleave)."""

    kind: str
    line: str
    conn: int


TraceFunc = Callable[[TraceEvent], None]
Message = Union[bytes, bytearray, memoryview, str]


# ---- results ---------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRecipient:
    """A recipient the server refused, with its reply."""

    address: str
    code: int
    enhanced_code: Optional[EnhancedCode]
    message: str


@dataclass(frozen=True)
class Receipt:
    """The outcome of a message the server accepted."""

    accepted: List[str]  # the recipients accepted, in order
    rejected: List["RejectedRecipient"]  # the ones refused
    reply_code: int  # the reply to the message content, e.g. 250
    reply_message: str  # its text, e.g. "OK: queued as Q0001"
    queue_id: Optional[str] = None  # read from reply_message, when it has one
    reply_enhanced_code: Optional[EnhancedCode] = None  # e.g. (2, 0, 0)


def _enhanced(s: Optional[str]) -> Optional[EnhancedCode]:
    if not s:
        return None
    parts = s.split(".")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _rejected(items: Any) -> List["RejectedRecipient"]:
    return [
        RejectedRecipient(r["address"], r["code"], _enhanced(r.get("enhanced_code")), r.get("message", ""))
        for r in items or ()
    ]


def _receipt(text: str) -> Receipt:
    d = json.loads(text)
    reply = d["reply"]
    return Receipt(
        accepted=list(d["accepted"]),
        rejected=_rejected(d["rejected"]),
        reply_code=reply["code"],
        reply_message=reply["message"],
        queue_id=d.get("queue_id"),
        reply_enhanced_code=_enhanced(reply.get("enhanced_code")),
    )


# ---- errors ------------------------------------------------------------------


class SMTPError(Exception):
    """Any failure of mailwire. str(e) is a one-line description.

    code, enhanced_code (a tuple such as (5, 1, 1)) and command are the
    server's reply and the command it refused, or None when the failure was
    not a refusal; message is the server's reply text, or the description.
    rejected lists the recipients refused when every one was.
    """

    def __init__(
        self,
        text: str,
        *,
        category: str = "",
        code: Optional[int] = None,
        enhanced_code: Optional[EnhancedCode] = None,
        command: Optional[str] = None,
        message: Optional[str] = None,
        rejected: Sequence[RejectedRecipient] = (),
        remedy: str = "",
    ):
        hint = _HINTS.get(remedy, "")
        super().__init__(f"{text}: {hint}" if hint else text)
        self.remedy = remedy
        self.category = category
        self.code = code
        self.enhanced_code = enhanced_code
        self.command = command
        self.message = text if message is None else message
        self.rejected = list(rejected)


class TemporaryError(SMTPError):
    """The server refused with a 4xx reply: trying again later may work."""


class PermanentError(SMTPError):
    """The server refused with a 5xx reply: do not retry as is."""


class MessageTooLargeError(PermanentError):
    """The message is larger than the server accepts (its SIZE): refused
    before it was sent."""


class DeliveryUnknownError(SMTPError):
    """The connection broke after the message was sent and before the
    server's answer: it may have been delivered. Do not resend blindly."""


class TLSError(SMTPError):
    """STARTTLS missing or refused, a failed handshake, an untrusted
    certificate or no matching pin."""


class NetworkError(SMTPError):
    """Connecting failed, the connection broke, or the server broke the
    protocol."""


class SMTPTimeoutError(SMTPError, builtins.TimeoutError):
    """A timeout expired (before the message was sent: afterwards it is
    DeliveryUnknownError)."""


class AuthError(SMTPError):
    """Authentication failed: the server refused the credentials (code and
    command "AUTH" set, as smtplib's SMTPAuthenticationError), or offers no
    AUTH mechanism that may be used."""


class ClosedError(SMTPError):
    """The client or pool is closed."""


class InvalidArgumentError(SMTPError, ValueError):
    """A bad argument or option, refused before anything was sent."""


class InternalError(SMTPError):
    """A bug in mailwire."""


_CLASSES = {
    "temporary": TemporaryError,
    "permanent": PermanentError,
    "delivery_unknown": DeliveryUnknownError,
    "tls": TLSError,
    "network": NetworkError,
    "timeout": SMTPTimeoutError,
    "auth": AuthError,
    "closed": ClosedError,
    "invalid_argument": InvalidArgumentError,
    "internal": InternalError,
}


# What would likely help, in this package's keyword arguments: the
# library's errors state what happened; each front-end words the remedy.
_HINTS = {
    "implicit_tls": 'use security="implicit"',
    "starttls": 'use security="starttls"',
    "no_starttls": 'use security="implicit" with the server\'s TLS port (465), or security="starttls-optional" to accept plaintext',
    "silent_port": 'try security="implicit", or raise greeting_timeout for a server that greets slowly',
    "trust_certificate": "give its CA in ca_pem, or pin its key with pins",
    "server_name": "give server_name",
    "timeout": "raise reply_timeout if the server is slow",
    "secure_auth": 'use security="starttls" or "implicit", or allow_insecure_auth=True if the network is trusted',
}


def _error(text: Optional[str], rc: int) -> SMTPError:
    try:
        d = json.loads(text or "")
    except ValueError:
        d = {"category": "internal", "error": f"mailwire: status {rc}: {text!r}"}
    cls = _CLASSES.get(d.get("category"), SMTPError)
    if d.get("reason") == "message_too_large":
        cls = MessageTooLargeError
    return cls(
        d.get("error", ""),
        category=d.get("category", ""),
        code=d.get("code"),
        enhanced_code=_enhanced(d.get("enhanced_code")),
        command=d.get("command"),
        message=d.get("message"),
        rejected=_rejected(d.get("rejected")),
        remedy=d.get("remedy", ""),
    )


def _check(rc: int, err: ctypes.c_void_p) -> None:
    text = _native.take_string(err.value)
    if rc != 0:
        raise _error(text, rc)


# ---- arguments ---------------------------------------------------------------


def _ms(seconds: Optional[float], name: str) -> int:
    if seconds is None:
        return 0
    if seconds < 0:
        raise InvalidArgumentError(f"mailwire: negative {name}", category="invalid_argument")
    return max(1, int(seconds * 1000)) if seconds > 0 else 0


def _options(
    security: str,
    pins: Union[None, str, Iterable[str]],
    ca_pem: Union[None, str, bytes],
    server_name: Optional[str],
    user: Optional[str],
    password: Optional[str],
    allow_insecure_auth: bool,
    reply_timeout: Optional[float],
    local_name: Optional[str],
    greeting_timeout: Optional[float] = None,
    proxy: Optional[str] = None,
    lmtp: bool = False,
) -> bytes:
    o: Dict[str, Any] = {"security": security}
    if proxy:
        o["proxy"] = proxy
    if lmtp:
        o["lmtp"] = True
    if pins:
        o["pins"] = [pins] if isinstance(pins, str) else list(pins)
    if ca_pem:
        o["ca_pem"] = ca_pem.decode("ascii") if isinstance(ca_pem, bytes) else ca_pem
    if server_name:
        o["server_name"] = server_name
    if user is not None:
        o["user"] = user
    if password is not None:
        o["password"] = password
    if allow_insecure_auth:
        o["allow_insecure_auth"] = True
    if reply_timeout is not None:
        o["timeout_ms"] = _ms(reply_timeout, "reply_timeout")
    if local_name:
        o["local_name"] = local_name
    if greeting_timeout is not None:
        o["greeting_timeout_ms"] = _ms(greeting_timeout, "greeting_timeout")
    return json.dumps(o).encode()


def _ca(ca_pem: Union[None, str, bytes], ca_file: Optional[str]) -> Union[None, str, bytes]:
    """The CA certificates: ca_pem, or the PEM file ca_file (not both)."""
    if ca_file is None:
        return ca_pem
    if ca_pem is not None:
        raise InvalidArgumentError("mailwire: give ca_pem or ca_file, not both", category="invalid_argument")
    with open(ca_file, "rb") as f:
        return f.read()


def _envelope(
    msg: email.message.Message, from_addr: Optional[str], to_addrs: Union[None, str, Iterable[str]]
) -> Tuple[str, Union[str, Iterable[str]], bytes]:
    """The envelope and the bytes smtplib.send_message would send: the sender
    from Sender or From, the recipients from To, Cc and Bcc, and the message
    without its Bcc (and Resent-Bcc), with CRLF line endings."""
    if from_addr is None:
        senders = email.utils.getaddresses(msg.get_all("Sender", []) or msg.get_all("From", []))
        if len(senders) != 1:
            raise InvalidArgumentError("mailwire: send_message needs one Sender or From address, or from_addr", category="invalid_argument")
        from_addr = senders[0][1]
    if to_addrs is None:
        fields = [f for h in ("To", "Cc", "Bcc") for f in msg.get_all(h, [])]
        to_addrs = [a for _, a in email.utils.getaddresses(fields) if a]
        if not to_addrs:
            raise InvalidArgumentError("mailwire: send_message found no To, Cc or Bcc address", category="invalid_argument")
    copy_ = copy.copy(msg)
    del copy_["Bcc"]
    del copy_["Resent-Bcc"]
    buf = io.BytesIO()
    policy = msg.policy.clone(linesep="\r\n")
    email.generator.BytesGenerator(buf, policy=policy).flatten(copy_, linesep="\r\n")
    return from_addr, to_addrs, buf.getvalue()


class _Sender:
    """send_message, for Client and Pool alike."""

    def send(self, from_addr: str, to_addrs: Union[str, Iterable[str]], msg: Message, *,
             timeout: Optional[float] = None) -> "Receipt":  # pragma: no cover - defined by the subclasses
        raise NotImplementedError

    def send_message(
        self,
        msg: email.message.Message,
        from_addr: Optional[str] = None,
        to_addrs: Union[None, str, Iterable[str]] = None,
        *,
        timeout: Optional[float] = None,
    ) -> "Receipt":
        """Sends an email.message.Message as smtplib's send_message does:
        the envelope comes from the header (Sender or From; To, Cc and Bcc)
        unless given, and the Bcc header is left out of what is sent."""
        f, to, body = _envelope(msg, from_addr, to_addrs)
        return self.send(f, to, body, timeout=timeout)


def _message(msg: Message) -> bytes:
    if isinstance(msg, bytes):
        return msg
    if isinstance(msg, str):
        return msg.encode("utf-8")
    if isinstance(msg, (bytearray, memoryview)):
        return bytes(msg)
    as_bytes = getattr(msg, "as_bytes", None)  # email.message.Message
    if as_bytes is not None:
        return as_bytes()
    raise TypeError(f"mailwire: message must be bytes or str, not {type(msg).__name__}")


def _recipients(to: Union[str, Iterable[str]]) -> bytes:
    return json.dumps([to] if isinstance(to, str) else list(to)).encode()


_names: Optional[List[str]] = None


def event_name(kind: int) -> str:
    """The name of a trace event kind, as the library gives it ("sent")."""
    global _names
    names = _names
    if names is None:
        # All of them at once, outside any trace callback: a callback must
        # not call into the library.
        names = []
        while True:
            raw = _native.lib().mailwire_event_name(len(names))  # a constant of the library's: not freed
            name = raw.decode("ascii") if raw else "unknown"
            if name == "unknown" or len(names) >= 256:
                break
            names.append(name)
        _names = names
    return names[kind] if 0 <= kind < len(names) else "unknown"


def _trace_callback(trace: Optional[TraceFunc]) -> Any:
    """A C callback calling trace(TraceEvent(...)), or None."""
    if trace is None:
        return None
    event_name(0)  # loads the names now

    fn = trace

    def call(_user: Any, conn: int, kind: int, line: Optional[bytes]) -> None:
        fn(TraceEvent(event_name(kind), (line or b"").decode("utf-8", "replace"), conn))

    return _native.TRACE_FN(call)


def _fn_ptr(cb: Any) -> Optional[int]:
    return ctypes.cast(cb, ctypes.c_void_p).value if cb is not None else None


# ---- handles -----------------------------------------------------------------


class _Handle:
    """A library handle and the callback it uses; closed at most once, by
    close() or, when forgotten, by the garbage collector or at exit."""

    def __init__(self, close_fn: Callable[..., int], handle: int, callback: Any):
        self._lock = threading.Lock()
        self.handle: Optional[int] = handle
        self.callback = callback  # the C callback must outlive the handle
        self._close_fn = close_fn

    def take(self) -> Optional[int]:
        with self._lock:
            h, self.handle = self.handle, None
            return h

    def close(self, timeout_ms: int) -> None:
        h = self.take()
        if h is None:
            return
        err = ctypes.c_void_p()
        try:
            rc = self._close_fn(h, timeout_ms, ctypes.byref(err))
            _check(rc, err)
        finally:
            self.callback = None


def _finalize(h: _Handle) -> None:
    try:
        h.close(5000)
    except Exception:
        pass


class Client(_Sender):
    """One connection to an SMTP server, for one thread at a time.

    Client(addr) connects at once: it reads the greeting, says EHLO,
    secures the connection as `security` says ("auto", "starttls",
    "starttls-optional", "implicit", "plain") and authenticates when `user`
    is given. `ca_pem` (str or bytes), or the PEM file `ca_file`, replaces
    the system's roots; `pins` ("sha256//BASE64", one or a list) accept only
    a server whose chain has such a key. `proxy` ("socks5://HOST:PORT",
    "socks5h://...", "http://..." or "https://...", with USER:PASSWORD@
    when the proxy wants them) reaches the server through a proxy; `lmtp`
    speaks LMTP (RFC 2033) to a delivery agent such as Dovecot.
    `trace(event)` receives a
    TraceEvent for every protocol line ("sent", "AUTH PLAIN [redacted]") and
    connection event, on the calling thread. `timeout` (seconds) bounds each call (connecting, each send,
    closing); `reply_timeout` each wait for a server reply.

    Use it as a context manager, or call close(), which says QUIT.
    """

    def __init__(
        self,
        addr: str,
        *,
        security: str = "auto",
        pins: Union[None, str, Iterable[str]] = None,
        ca_pem: Union[None, str, bytes] = None,
        ca_file: Optional[str] = None,
        server_name: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        allow_insecure_auth: bool = False,
        local_name: Optional[str] = None,
        timeout: Optional[float] = None,
        reply_timeout: Optional[float] = None,
        greeting_timeout: Optional[float] = None,
        proxy: Optional[str] = None,
        lmtp: bool = False,
        trace: Optional[TraceFunc] = None,
    ):
        lib = _native.lib()
        self._timeout = timeout
        ca_pem = _ca(ca_pem, ca_file)
        opts = _options(
            security, pins, ca_pem, server_name, user, password, allow_insecure_auth, reply_timeout, local_name, greeting_timeout, proxy, lmtp
        )
        cb = _trace_callback(trace)
        handle = ctypes.c_uint64()
        err = ctypes.c_void_p()
        rc = lib.mailwire_open(addr.encode(), opts, _fn_ptr(cb), None, _ms(timeout, "timeout"), ctypes.byref(handle), ctypes.byref(err))
        _check(rc, err)
        self._h = _Handle(lib.mailwire_close, handle.value, cb)
        self._finalizer = weakref.finalize(self, _finalize, self._h)

    def send(
        self,
        from_addr: str,
        to_addrs: Union[str, Iterable[str]],
        msg: Message,
        *,
        timeout: Optional[float] = None,
    ) -> Receipt:
        """Sends msg (the whole message, header and body) from from_addr
        ("" for the null sender) to to_addrs, and returns the Receipt.
        Recipients refused while others were accepted are in
        Receipt.rejected; when all are refused, it raises."""
        h = self._h.handle
        if h is None:
            raise ClosedError("mailwire: the client is closed", category="closed")
        body = _message(msg)
        receipt, err = ctypes.c_void_p(), ctypes.c_void_p()
        t = self._timeout if timeout is None else timeout
        rc = _native.lib().mailwire_send(
            h, from_addr.encode(), _recipients(to_addrs), body, len(body), _ms(t, "timeout"), ctypes.byref(receipt), ctypes.byref(err)
        )
        text = _native.take_string(receipt.value)
        _check(rc, err)
        return _receipt(text or "")

    def close(self, *, timeout: Optional[float] = None) -> None:
        """Says QUIT and closes the connection. Closing twice is allowed."""
        self._finalizer.detach()
        self._h.close(_ms(self._timeout if timeout is None else timeout, "timeout"))

    @property
    def closed(self) -> bool:
        return self._h.handle is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.close()
        except SMTPError:
            if exc is None:
                raise  # a failed QUIT is worth knowing, unless something else failed first


class Pool(_Sender):
    """A pool of connections to one server, for any number of threads.

    It takes the options of Client, plus the pool's limits: max_conns (4),
    max_idle, idle_timeout (seconds, 60), max_messages_per_conn (no limit),
    max_lifetime and health_check_after (seconds). No connection is made
    until the first send. The trace callback may be called from several
    threads at once, the library's included.
    """

    def __init__(
        self,
        addr: str,
        *,
        max_conns: Optional[int] = None,
        max_idle: Optional[int] = None,
        idle_timeout: Optional[float] = None,
        max_messages_per_conn: Optional[int] = None,
        max_lifetime: Optional[float] = None,
        health_check_after: Optional[float] = None,
        security: str = "auto",
        pins: Union[None, str, Iterable[str]] = None,
        ca_pem: Union[None, str, bytes] = None,
        ca_file: Optional[str] = None,
        server_name: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        allow_insecure_auth: bool = False,
        local_name: Optional[str] = None,
        timeout: Optional[float] = None,
        reply_timeout: Optional[float] = None,
        greeting_timeout: Optional[float] = None,
        proxy: Optional[str] = None,
        lmtp: bool = False,
        trace: Optional[TraceFunc] = None,
    ):
        lib = _native.lib()
        self._timeout = timeout
        ca_pem = _ca(ca_pem, ca_file)
        opts = _options(
            security, pins, ca_pem, server_name, user, password, allow_insecure_auth, reply_timeout, local_name, greeting_timeout, proxy, lmtp
        )
        popts: Dict[str, Any] = {}
        for key, value in (("max_conns", max_conns), ("max_idle", max_idle), ("max_messages_per_conn", max_messages_per_conn)):
            if value is not None:
                popts[key] = value
        for key, seconds in (("idle_timeout_ms", idle_timeout), ("max_lifetime_ms", max_lifetime), ("health_check_after_ms", health_check_after)):
            if seconds is not None:
                popts[key] = _ms(seconds, key[:-3])
        cb = _trace_callback(trace)
        handle = ctypes.c_uint64()
        err = ctypes.c_void_p()
        rc = lib.mailwire_pool_open(addr.encode(), opts, json.dumps(popts).encode(), _fn_ptr(cb), None, ctypes.byref(handle), ctypes.byref(err))
        _check(rc, err)
        self._h = _Handle(lib.mailwire_pool_close, handle.value, cb)
        self._finalizer = weakref.finalize(self, _finalize, self._h)

    def send(
        self,
        from_addr: str,
        to_addrs: Union[str, Iterable[str]],
        msg: Message,
        *,
        timeout: Optional[float] = None,
    ) -> Receipt:
        """Sends a message over a pooled connection, as Client.send does."""
        h = self._h.handle
        if h is None:
            raise ClosedError("mailwire: the pool is closed", category="closed")
        body = _message(msg)
        receipt, err = ctypes.c_void_p(), ctypes.c_void_p()
        t = self._timeout if timeout is None else timeout
        rc = _native.lib().mailwire_pool_send(
            h, from_addr.encode(), _recipients(to_addrs), body, len(body), _ms(t, "timeout"), ctypes.byref(receipt), ctypes.byref(err)
        )
        text = _native.take_string(receipt.value)
        _check(rc, err)
        return _receipt(text or "")

    def close(self, *, timeout: Optional[float] = None) -> None:
        """Waits for the sends in flight, then closes every connection with
        QUIT. Closing twice is allowed."""
        self._finalizer.detach()
        self._h.close(_ms(self._timeout if timeout is None else timeout, "timeout"))

    @property
    def closed(self) -> bool:
        return self._h.handle is None

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.close()
        except SMTPError:
            if exc is None:
                raise
