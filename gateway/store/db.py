"""The one SQLite connection: WAL, migrations, and nothing else.

Debian bookworm's SQLite 3.40 can corrupt a WAL database when two connections write or
checkpoint at once, so the whole process shares this single connection; aiosqlite runs
it in its own thread and every awaited call costs ~0.3 ms, so callers do one call per
logical operation (batched inserts, chunked deletes).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

MIGRATIONS: list[str] = [
    # 1: streams and the DVR index
    """
    CREATE TABLE streams (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT 'api',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        path TEXT NOT NULL UNIQUE,
        codecs TEXT NOT NULL,
        width INTEGER NOT NULL DEFAULT 0,
        height INTEGER NOT NULL DEFAULT 0,
        generation INTEGER NOT NULL DEFAULT 0,
        CHECK (end_ms > start_ms)
    );
    CREATE INDEX segments_stream_start ON segments(stream, start_ms);
    CREATE INDEX segments_start ON segments(start_ms);
    """,
    # 2: users, login sessions and API tokens (only token hashes are stored)
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL DEFAULT 'admin',
        must_change INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        expires_at REAL,
        last_used_at REAL
    );
    CREATE INDEX tokens_user ON tokens(user_id);
    """,
    # 3: motion episodes (gateway/store/episodes.py)
    """
    CREATE TABLE episodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        media TEXT NOT NULL,
        episode_type TEXT NOT NULL DEFAULT 'motion',
        opened_at REAL NOT NULL,
        closed_at REAL,
        updated_at REAL NOT NULL,
        close_reason TEXT,
        preview TEXT,
        zones TEXT NOT NULL DEFAULT '[]',
        peak_area REAL NOT NULL DEFAULT 0,
        pre_roll REAL NOT NULL DEFAULT 0,
        post_roll REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX episodes_updated ON episodes(updated_at);
    CREATE INDEX episodes_opened ON episodes(opened_at);
    CREATE INDEX episodes_media_updated ON episodes(media, updated_at);
    """,
    # 4: DVR export jobs (gateway/store/exports.py)
    """
    CREATE TABLE exports (
        id TEXT PRIMARY KEY,
        stream TEXT NOT NULL,
        from_ms INTEGER NOT NULL,
        to_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        duration REAL NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        ttl REAL NOT NULL
    );
    CREATE INDEX exports_expires ON exports(expires_at);
    """,
]


class Database:
    """Owns the writer connection; other store modules take it as a dependency."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> Database:
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        db = cls(conn, path)
        await conn.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            PRAGMA foreign_keys=ON;
            PRAGMA busy_timeout=5000;
            PRAGMA temp_store=MEMORY;
            PRAGMA wal_autocheckpoint=256;
            PRAGMA journal_size_limit=1048576;
            """
        )
        await db._migrate()
        return db

    async def _migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        for i, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("database: applying migration %d", i)
            await self.conn.executescript(
                f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={i}; COMMIT;"
            )

    async def integrity_check(self) -> str:
        async with self.conn.execute("PRAGMA integrity_check") as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else "no answer"

    async def close(self) -> None:
        try:
            await self.conn.execute("PRAGMA optimize")
        except sqlite3.Error as exc:  # e.g. a full disk: optimizing is optional
            log.warning("database: optimize skipped: %s", exc)
        finally:
            await self.conn.close()
