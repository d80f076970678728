"""``camgate passwd``: set a user's password directly in the data dir's database.

Ends that user's login sessions (API tokens stay) and removes the first-start password
file.  A running gateway notices within a few seconds (it re-checks tokens every 5 s).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from gateway.store.db import Database
from gateway.store.users import Users
from gateway.web.api_auth import MIN_PASSWORD
from gateway.web.auth import INITIAL_PASSWORD_FILE


class PasswordError(ValueError):
    pass


def read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise PasswordError("the passwords differ")
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


async def set_password(data_dir: Path, login: str, password: str) -> None:
    db = await Database.open(data_dir / "camgate.db")
    try:
        await Users(db).set_password(login, password, must_change=False)
    finally:
        await db.close()
    if login == "admin":
        (data_dir / INITIAL_PASSWORD_FILE).unlink(missing_ok=True)
