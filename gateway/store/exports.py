"""Export jobs (DVR range → MP4 file) in SQLite: one row per job, times in unix seconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from gateway.store.db import Database

_COLS = (
    "id, stream, from_ms, to_ms, status, progress, bytes, duration, error, created_at,"
    " updated_at, expires_at, ttl"
)
STATES = ("queued", "running", "completed", "failed")


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: str
    stream: str
    from_ms: int
    to_ms: int
    status: str
    progress: float
    bytes: int
    duration: float
    error: str
    created_at: float
    updated_at: float
    expires_at: float
    ttl: float

    def but(self, **changes: object) -> ExportJob:
        return replace(self, **changes)  # type: ignore[arg-type]


def _job(row: Sequence[object]) -> ExportJob:
    return ExportJob(
        id=str(row[0]),
        stream=str(row[1]),
        from_ms=int(row[2]),  # type: ignore[call-overload]
        to_ms=int(row[3]),  # type: ignore[call-overload]
        status=str(row[4]),
        progress=float(row[5]),  # type: ignore[arg-type]
        bytes=int(row[6]),  # type: ignore[call-overload]
        duration=float(row[7]),  # type: ignore[arg-type]
        error=str(row[8] or ""),
        created_at=float(row[9]),  # type: ignore[arg-type]
        updated_at=float(row[10]),  # type: ignore[arg-type]
        expires_at=float(row[11]),  # type: ignore[arg-type]
        ttl=float(row[12]),  # type: ignore[arg-type]
    )


class Exports:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, job: ExportJob) -> None:
        """Insert or replace the whole row (one statement)."""
        await self.db.conn.execute(
            f"INSERT OR REPLACE INTO exports ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job.id, job.stream, job.from_ms, job.to_ms, job.status, job.progress, job.bytes,
                job.duration, job.error, job.created_at, job.updated_at, job.expires_at,
                job.ttl,
            ),
        )

    async def get(self, job_id: str) -> ExportJob | None:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_COLS} FROM exports WHERE id = ?", (job_id,)
        )
        return _job(list(rows)[0]) if rows else None

    async def all(self, limit: int = 1000) -> list[ExportJob]:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_COLS} FROM exports ORDER BY created_at DESC LIMIT ?", (limit,)
        )
        return [_job(r) for r in rows]

    async def delete(self, job_id: str) -> None:
        await self.db.conn.execute("DELETE FROM exports WHERE id = ?", (job_id,))

    async def expired(self, now: float) -> list[ExportJob]:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_COLS} FROM exports WHERE expires_at < ?"
            " AND status IN ('completed', 'failed')",
            (now,),
        )
        return [_job(r) for r in rows]

    async def touch(self, job_id: str, expires_at: float) -> None:
        await self.db.conn.execute(
            "UPDATE exports SET expires_at = ? WHERE id = ?", (expires_at, job_id)
        )

    async def interrupt_unfinished(self, now: float) -> None:
        """Jobs a previous run left queued or running will never finish: mark them failed."""
        await self.db.conn.execute(
            "UPDATE exports SET status = 'failed', error = 'interrupted by a restart',"
            " updated_at = ? WHERE status IN ('queued', 'running')",
            (now,),
        )
