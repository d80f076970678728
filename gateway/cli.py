"""Command line: argument parsing only; the work happens in the modules it calls."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from gateway import __version__
from gateway.config import Config

DEFAULT_CONFIG = Path("/etc/camgate/camgate.toml")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load_config(args: argparse.Namespace) -> Config:
    from gateway.config import ConfigError, load_file

    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    try:
        return load_file(path, env=os.environ, data_dir=args.data)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load_config(args)
    _setup_logging(cfg.log_level)
    from gateway.app import run_gateway

    return run_gateway(cfg)


def cmd_check(args: argparse.Namespace) -> int:
    cfg = _load_config(args)
    print(f"config ok: {len(cfg.streams)} streams, data dir {cfg.storage.path}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.passwd import PasswordError, read_new_password, set_password

    cfg = _load_config(args)
    if not (cfg.storage.path / "camgate.db").exists():
        print(f"no database in {cfg.storage.path} (run the gateway once first)", file=sys.stderr)
        return 2
    try:
        password = read_new_password(args.password_stdin)
    except PasswordError as exc:
        print(exc, file=sys.stderr)
        return 2
    asyncio.run(set_password(cfg.storage.path, args.login, password))
    print(f"password of {args.login!r} set; its login sessions have ended")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gateway.exporter import ExportError, export
    from gateway.timespec import BadTime, parse_time

    cfg = _load_config(args)
    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except BadTime as exc:
        print(f"export: bad time {exc}: use RFC 3339 or unix seconds", file=sys.stderr)
        return 2
    if end <= start:
        print("export: TO must be after FROM", file=sys.stderr)
        return 2
    try:
        duration = export(cfg.storage.path, args.stream, start, end, args.output)
    except ExportError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: {duration:.1f} s")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    _setup_logging("info")
    return run_demo(port=args.port, data=args.data)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="camgate", description="camgate edge camera gateway")
    p.add_argument("--version", action="version", version=f"camgate {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, default=None, help="TOML config file")
        sp.add_argument("--data", type=Path, default=None, help="data dir (overrides storage.path)")

    run = sub.add_parser("run", help="run the gateway daemon")
    with_config(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate the configuration")
    with_config(check)
    check.set_defaults(func=cmd_check)

    passwd = sub.add_parser("passwd", help="set the admin password")
    with_config(passwd)
    passwd.add_argument("--login", default="admin", help="user (default: admin)")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the new password from stdin"
    )
    passwd.set_defaults(func=cmd_passwd)

    exp = sub.add_parser("export", help="DVR range to an MP4 file (reads the data dir)")
    with_config(exp)
    exp.add_argument("stream")
    exp.add_argument("start", metavar="FROM", help="RFC 3339 time or unix seconds")
    exp.add_argument("end", metavar="TO", help="RFC 3339 time or unix seconds")
    exp.add_argument("-o", "--output", type=Path, required=True, help="the MP4 to write")
    exp.set_defaults(func=cmd_export)

    demo = sub.add_parser("demo", help="run with a simulated camera in a temporary data dir")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
