"""Host and process figures read from /proc and /sys (blocking: call in a worker thread).

Everything degrades to ``None`` where a file is missing (non-Linux, containers), so the
API and the status page still answer.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def process_rss() -> int | None:
    text = _read("/proc/self/statm")
    if text is None:
        return None
    return int(text.split()[1]) * _PAGE


def process_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def meminfo() -> dict[str, int] | None:
    text = _read("/proc/meminfo")
    if text is None:
        return None
    vals: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            vals[key] = int(parts[0]) * 1024
    total = vals.get("MemTotal")
    avail = vals.get("MemAvailable", vals.get("MemFree"))
    if total is None or avail is None:
        return None
    return {"total": total, "available": avail, "used": total - avail}


def host_uptime() -> float | None:
    text = _read("/proc/uptime")
    return float(text.split()[0]) if text else None


def temperature() -> float | None:
    """Hottest thermal zone in °C (the SoC on a Pi), if any is readable."""
    best = None
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*/temp")):
        try:
            t = int(zone.read_text().strip()) / 1000
        except (OSError, ValueError):
            continue
        best = t if best is None else max(best, t)
    return best


def disk(path: Path) -> dict[str, int] | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return {"total": total, "free": free, "used": total - st.f_bfree * st.f_frsize}


def _cpu_times() -> tuple[int, int] | None:
    text = _read("/proc/stat")
    if not text:
        return None
    fields = [int(x) for x in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


@dataclass
class CpuSampler:
    """Host CPU use in percent since the previous call (the first call: since boot)."""

    last: tuple[int, int] | None = None
    proc_last: tuple[float, float] | None = None

    def percent(self) -> float | None:
        now = _cpu_times()
        if now is None:
            return None
        prev = self.last or (0, 0)
        self.last = now
        total, idle = now[0] - prev[0], now[1] - prev[1]
        return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0

    def process_percent(self) -> float:
        """This process's CPU use (100 = one core) since the previous call."""
        now = (time.monotonic(), process_cpu_seconds())
        prev = self.proc_last
        self.proc_last = now
        if prev is None or now[0] <= prev[0]:
            return 0.0
        return round(100.0 * (now[1] - prev[1]) / (now[0] - prev[0]), 1)


def snapshot(data_dir: Path, cpu: CpuSampler) -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "host_uptime": host_uptime(),
        "load": list(load) if load else None,
        "cpu": {"percent": cpu.percent(), "count": os.cpu_count()},
        "memory": meminfo(),
        "disk": disk(data_dir),
        "temperature": temperature(),
        "process": {
            "rss": process_rss(),
            "cpu_seconds": round(process_cpu_seconds(), 3),
            "cpu_percent": cpu.process_percent(),
            "open_fds": open_fds(),
            "pid": os.getpid(),
        },
    }
