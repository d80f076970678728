"""Users, login sessions and API tokens in SQLite.

Passwords are hashed with Argon2id (argon2-cffi; OWASP's m=19 MiB, t=2, p=1 profile, which
a Raspberry Pi verifies in a few hundred milliseconds).  Hashing runs in a worker thread.
Tokens are random strings handed out once; only their SHA-256 is stored, so a copy of the
database does not log anyone in.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.store.db import Database

SESSION = "session"
API = "api"
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    role: str
    must_change: bool
    password_hash: str


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    user_id: int
    kind: str  # SESSION or API
    name: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
        }


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Blocking (run it in a thread); False on any mismatch or malformed hash."""
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: object) -> User:
    r = row  # aiosqlite.Row
    return User(
        id=int(r[0]),  # type: ignore[index]
        login=str(r[1]),  # type: ignore[index]
        role=str(r[2]),  # type: ignore[index]
        must_change=bool(r[3]),  # type: ignore[index]
        password_hash=str(r[4]),  # type: ignore[index]
    )


def _token(row: object) -> Token:
    r = row
    return Token(
        id=int(r[0]),  # type: ignore[index]
        user_id=int(r[1]),  # type: ignore[index]
        kind=str(r[2]),  # type: ignore[index]
        name=str(r[3]),  # type: ignore[index]
        created_at=float(r[4]),  # type: ignore[index]
        expires_at=None if r[5] is None else float(r[5]),  # type: ignore[index]
        last_used_at=None if r[6] is None else float(r[6]),  # type: ignore[index]
    )


_USER_COLS = "id, login, role, must_change, password_hash"
_TOKEN_COLS = "id, user_id, kind, name, created_at, expires_at, last_used_at"


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_login(self, login: str) -> User | None:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_USER_COLS} FROM users WHERE login = ?", (login,)
        )
        return _user(next(iter(rows))) if rows else None

    async def by_id(self, user_id: int) -> User | None:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_USER_COLS} FROM users WHERE id = ?", (user_id,)
        )
        return _user(next(iter(rows))) if rows else None

    async def count_admins(self) -> int:
        rows = await self.db.conn.execute_fetchall(
            "SELECT COUNT(*) FROM users WHERE role = 'admin'"
        )
        return int(next(iter(rows))[0])

    async def set_password(
        self, login: str, password: str, *, must_change: bool, role: str = "admin"
    ) -> User:
        """Create the user or replace its password; its sessions end, API tokens stay."""
        digest = await asyncio.to_thread(hash_password, password)
        now = time.time()
        await self.db.conn.execute(
            "INSERT INTO users (login, password_hash, role, must_change, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(login) DO UPDATE SET"
            " password_hash=excluded.password_hash, must_change=excluded.must_change,"
            " updated_at=excluded.updated_at",
            (login, digest, role, int(must_change), now, now),
        )
        user = await self.by_login(login)
        assert user is not None
        await self.db.conn.execute(
            "DELETE FROM tokens WHERE user_id = ? AND kind = ?", (user.id, SESSION)
        )
        return user

    async def create_token(
        self, user_id: int, kind: str, name: str = "", ttl: float | None = None
    ) -> tuple[str, Token]:
        """A new random token (returned once, in clear) and its stored description."""
        prefix = "cgs_" if kind == SESSION else "cgt_"
        secret = prefix + secrets.token_urlsafe(32)
        now = time.time()
        expires = now + ttl if ttl else None
        rows = await self.db.conn.execute_fetchall(
            "INSERT INTO tokens (user_id, kind, name, token_hash, created_at, expires_at)"
            f" VALUES (?,?,?,?,?,?) RETURNING {_TOKEN_COLS}",
            (user_id, kind, name, token_digest(secret), now, expires),
        )
        return secret, _token(next(iter(rows)))

    async def lookup(self, secret: str) -> tuple[Token, User] | None:
        """The live token with this secret and its user, or None."""
        cols = ", ".join(f"t.{c.strip()}" for c in _TOKEN_COLS.split(","))
        ucols = ", ".join(f"u.{c.strip()}" for c in _USER_COLS.split(","))
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {cols}, {ucols} FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = ? AND (t.expires_at IS NULL OR t.expires_at > ?)",
            (token_digest(secret), time.time()),
        )
        if not rows:
            return None
        row = tuple(next(iter(rows)))
        return _token(row[:7]), _user(row[7:])

    async def touch(self, token_id: int) -> None:
        await self.db.conn.execute(
            "UPDATE tokens SET last_used_at = ? WHERE id = ?", (time.time(), token_id)
        )

    async def tokens(self, user_id: int, kind: str = API) -> list[Token]:
        rows = await self.db.conn.execute_fetchall(
            f"SELECT {_TOKEN_COLS} FROM tokens WHERE user_id = ? AND kind = ? ORDER BY id",
            (user_id, kind),
        )
        return [_token(r) for r in rows]

    async def delete_token(self, token_id: int, user_id: int | None = None) -> bool:
        sql, args = "DELETE FROM tokens WHERE id = ?", [token_id]
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(user_id)
        async with self.db.conn.execute(sql + " RETURNING id", args) as cur:
            rows = await cur.fetchall()
        return bool(rows)

    async def delete_secret(self, secret: str) -> None:
        await self.db.conn.execute(
            "DELETE FROM tokens WHERE token_hash = ?", (token_digest(secret),)
        )

    async def purge_expired(self) -> None:
        await self.db.conn.execute(
            "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?", (time.time(),)
        )
