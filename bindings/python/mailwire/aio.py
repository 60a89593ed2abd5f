"""mailwire for asyncio: the same calls as coroutines that never block the
event loop.

    from mailwire import aio

    async with await aio.Pool.open("smtp.example.com:587", user="alice", password="...") as pool:
        receipt = await pool.send("alice@example.com", ["bob@example.net"], message_bytes)

Each call runs in a worker thread of the loop's executor; the library
releases the GIL while it waits on the network (ctypes calls into C), so
sends on a Pool, or on several Clients, overlap in time. A Client still
takes one call at a time: its calls wait for each other, in order.
"""

from __future__ import annotations

import asyncio
import email.message
import functools
from typing import Any, Callable, Iterable, Optional, TypeVar, Union

from . import Client as _Client
from . import Message, Pool as _Pool, Receipt

__all__ = ["Client", "Pool"]

T = TypeVar("T")


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


class Client:
    """mailwire.Client as coroutines. Make one with `await Client.open(addr,
    **options)`, which takes mailwire.Client's keyword arguments."""

    def __init__(self, client: _Client):
        self._c = client
        self._lock = asyncio.Lock()  # one call at a time, as mailwire.Client wants

    @classmethod
    async def open(cls, addr: str, **options: Any) -> "Client":
        return cls(await _run(_Client, addr, **options))

    async def send(self, from_addr: str, to_addrs: Union[str, Iterable[str]], msg: Message, *,
                   timeout: Optional[float] = None) -> Receipt:
        async with self._lock:
            return await _run(self._c.send, from_addr, to_addrs, msg, timeout=timeout)

    async def send_message(self, msg: email.message.Message, from_addr: Optional[str] = None,
                           to_addrs: Union[None, str, Iterable[str]] = None, *,
                           timeout: Optional[float] = None) -> Receipt:
        async with self._lock:
            return await _run(self._c.send_message, msg, from_addr, to_addrs, timeout=timeout)

    async def close(self, *, timeout: Optional[float] = None) -> None:
        async with self._lock:
            await _run(self._c.close, timeout=timeout)

    @property
    def closed(self) -> bool:
        return self._c.closed

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()


class Pool:
    """mailwire.Pool as coroutines: sends overlap. Make one with `await
    Pool.open(addr, **options)`, which takes mailwire.Pool's keyword
    arguments."""

    def __init__(self, pool: _Pool):
        self._p = pool

    @classmethod
    async def open(cls, addr: str, **options: Any) -> "Pool":
        return cls(await _run(_Pool, addr, **options))

    async def send(self, from_addr: str, to_addrs: Union[str, Iterable[str]], msg: Message, *,
                   timeout: Optional[float] = None) -> Receipt:
        return await _run(self._p.send, from_addr, to_addrs, msg, timeout=timeout)

    async def send_message(self, msg: email.message.Message, from_addr: Optional[str] = None,
                           to_addrs: Union[None, str, Iterable[str]] = None, *,
                           timeout: Optional[float] = None) -> Receipt:
        return await _run(self._p.send_message, msg, from_addr, to_addrs, timeout=timeout)

    async def close(self, *, timeout: Optional[float] = None) -> None:
        await _run(self._p.close, timeout=timeout)

    @property
    def closed(self) -> bool:
        return self._p.closed

    async def __aenter__(self) -> "Pool":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()
