"""Two network namespaces joined by a veth pair, for WebRTC tests.

aioice never offers 127.0.0.1 as an ICE candidate, so a WebRTC peer needs a real
interface.  ``NetnsPair`` makes ``<tag>g`` (the gateway side, 10.213.N.1/30) and
``<tag>c`` (the viewer side, 10.213.N.2/30); nothing else is reachable from either, and
the machine's own interfaces are never touched.  ``entered(ns)`` moves the *calling thread*
into a namespace (setns is per thread): sockets it creates and processes it starts live
there.  ``exec_prefix(ns)`` runs a command inside one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import threading
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


class NetnsPair:
    def __init__(self, index: int | None = None) -> None:
        n = index if index is not None else (os.getpid() % 200) + 20
        self.n = n
        self.tag = f"cgw{os.getpid() % 100000}x{n}"
        self.gw, self.client = f"{self.tag}g", f"{self.tag}c"
        self.gw_ip, self.client_ip = f"10.213.{n}.1", f"10.213.{n}.2"
        self.created = False

    def create(self) -> NetnsPair:
        va, vb = f"v{self.tag}a"[-15:], f"v{self.tag}b"[-15:]
        _ip("netns", "add", self.gw)
        self.created = True
        _ip("netns", "add", self.client)
        _ip("link", "add", va, "type", "veth", "peer", "name", vb)
        _ip("link", "set", va, "netns", self.gw)
        _ip("link", "set", vb, "netns", self.client)
        for ns, dev, ip in ((self.gw, va, self.gw_ip), (self.client, vb, self.client_ip)):
            _ip("-n", ns, "addr", "add", f"{ip}/30", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def delete(self) -> None:
        if not self.created:
            return
        for ns in (self.gw, self.client):
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True, timeout=10)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self.created = False

    def exec_prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    @contextlib.contextmanager
    def entered(self, ns: str) -> Iterator[None]:
        """Run the calling thread inside ``ns`` for the block."""
        home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        try:
            _setns(f"/run/netns/{ns}")
            try:
                yield
            finally:
                if _libc.setns(home, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "cannot return to the test's namespace")
        finally:
            os.close(home)
