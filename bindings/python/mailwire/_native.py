"""Loading libmailwire.so and declaring its C functions for ctypes."""

from __future__ import annotations

import ctypes
import os
import threading

_lib = None
_lock = threading.Lock()

TRACE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_char_p)

_c_str = ctypes.c_char_p
_c_out_str = ctypes.POINTER(ctypes.c_void_p)  # char **: kept as an address, to free it
_c_handle = ctypes.c_uint64


def candidates() -> list[str]:
    """The paths tried, in order: $MAILWIRE_LIB, then next to the package."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = []
    if os.environ.get("MAILWIRE_LIB"):
        paths.append(os.environ["MAILWIRE_LIB"])
    paths.append(os.path.join(here, "libmailwire.so"))
    paths.append(os.path.join(os.path.dirname(here), "libmailwire.so"))
    return paths


def lib() -> ctypes.CDLL:
    """The loaded library, loaded and declared on first use."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            _lib = _load()
    return _lib


def _load() -> ctypes.CDLL:
    tried = []
    for path in candidates():
        if not os.path.exists(path):
            tried.append(f"{path} (missing)")
            continue
        try:
            so = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
            continue
        _declare(so)
        return so
    raise OSError(
        "mailwire: cannot load libmailwire.so; set MAILWIRE_LIB to its path, or put it "
        "next to the mailwire package. Tried: " + "; ".join(tried)
    )


def _declare(so: ctypes.CDLL) -> None:
    i, v, sz = ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t
    sigs = {
        "mailwire_open": (i, [_c_str, _c_str, v, v, i, ctypes.POINTER(_c_handle), _c_out_str]),
        "mailwire_send": (i, [_c_handle, _c_str, _c_str, _c_str, sz, i, _c_out_str, _c_out_str]),
        "mailwire_close": (i, [_c_handle, i, _c_out_str]),
        "mailwire_pool_open": (i, [_c_str, _c_str, _c_str, v, v, ctypes.POINTER(_c_handle), _c_out_str]),
        "mailwire_pool_send": (i, [_c_handle, _c_str, _c_str, _c_str, sz, i, _c_out_str, _c_out_str]),
        "mailwire_pool_close": (i, [_c_handle, i, _c_out_str]),
        "mailwire_event_name": (_c_str, [i]),  # a constant: bytes, not freed
        "mailwire_free": (None, [v]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(so, name)
        fn.restype = restype
        fn.argtypes = argtypes


def take_string(addr: int | None) -> str | None:
    """Reads a string the library returned and frees it."""
    if not addr:
        return None
    try:
        return ctypes.string_at(addr).decode("utf-8", "replace")
    finally:
        lib().mailwire_free(addr)
