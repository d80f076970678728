"""Server-rendered HTML pages (login form, status page) from ``gateway/web/templates``."""

from __future__ import annotations

import functools
import html
from importlib import resources


@functools.cache
def _template(name: str) -> str:
    return resources.files("gateway.web").joinpath("templates", name).read_text("utf-8")


def render(name: str, **values: str) -> str:
    """``{{key}}`` → the HTML-escaped value; ``{{{key}}}`` → the value as is."""
    text = _template(name)
    for key, value in values.items():
        text = text.replace("{{{" + key + "}}}", value)
        text = text.replace("{{" + key + "}}", html.escape(value))
    return text


def login_html(mode: str) -> str:
    return render("login.html", mode="change" if mode == "change" else "login")
