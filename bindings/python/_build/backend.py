"""The PEP 517 build backend of the mailwire package, in the tree.

It compiles the Go library into the package (go build -buildmode=c-shared,
from this repository) and writes a wheel tagged for this platform, by hand:
a wheel is a zip file with a .dist-info directory, and writing one needs
nothing from a package index. Go must be on PATH.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sysconfig
import tempfile
import zipfile

NAME, VERSION = "mailwire", "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # bindings/python
REPO = os.path.dirname(os.path.dirname(PACKAGE_ROOT))  # the Go module
SOURCES = ("__init__.py", "_native.py", "aio.py", "testing.py", "pytest_plugin.py", "py.typed")
# pytest loads the plugin of an installed package named by this entry point.
ENTRY_POINTS = "[pytest11]\nmailwire = mailwire.pytest_plugin\n"


def _tag() -> str:
    return "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _metadata() -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\nVersion: {VERSION}\n"
        "Summary: An SMTP client: secure by default, pipelined, every line traced\n"
        "License: MIT\nRequires-Python: >=3.9\n"
    )


def _build_library(out: str) -> None:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("mailwire: building the package needs Go (go on PATH) to compile libmailwire.so")
    subprocess.run([go, "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./bindings/c"], cwd=REPO, check=True)


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist_info = f"{NAME}-{VERSION}.dist-info"
    wheel_name = f"{NAME}-{VERSION}-{_tag()}.whl"
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, "libmailwire.so")
        _build_library(lib)
        files = {}
        for name in SOURCES:
            with open(os.path.join(PACKAGE_ROOT, NAME, name), "rb") as f:
                files[f"{NAME}/{name}"] = f.read()
        with open(lib, "rb") as f:
            files[f"{NAME}/libmailwire.so"] = f.read()
        files[f"{dist_info}/METADATA"] = _metadata().encode()
        files[f"{dist_info}/entry_points.txt"] = ENTRY_POINTS.encode()
        files[f"{dist_info}/WHEEL"] = (
            f"Wheel-Version: 1.0\nGenerator: mailwire-backend\nRoot-Is-Purelib: false\nTag: {_tag()}\n"
        ).encode()
        record = [_record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
        files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
        path = os.path.join(wheel_directory, wheel_name)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("mailwire: no sdist: the package is built from the repository, which holds the Go library")
