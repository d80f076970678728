"""How a test gets credentials, the way a user would (contract for every HTTP test).

First start writes ``<data>/initial-admin-password``; logging in with it returns
``password_change_required: true``; after ``POST /api/v1/password`` the new password's
token is a full session.  ``login(base, data)`` does all of it once per data dir and
returns a bearer token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

TEST_PASSWORD = "test-password-0123456789"


def _post(url: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
    return dict(json.loads(text)) if text else {}


def login(base: str, data: Path, password: str = TEST_PASSWORD) -> str:
    """Bearer token for ``admin``, changing the initial password on first use."""
    try:
        return str(_post(f"{base}/api/v1/login", {"login": "admin", "password": password})
                   ["access_token"])
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            raise
    initial = (data / "initial-admin-password").read_text().strip()
    first = _post(f"{base}/api/v1/login", {"login": "admin", "password": initial})
    token = str(first["access_token"])
    if first.get("password_change_required"):
        _post(f"{base}/api/v1/password", {"password": initial, "new_password": password},
              token)
        token = str(_post(f"{base}/api/v1/login", {"login": "admin", "password": password})
                    ["access_token"])
    return token
