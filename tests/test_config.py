"""Config: defaults → TOML → CAMGATE_* env → validation, one line per bad field, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, StorageLimit, load, load_file, parse_size, parse_stream

GOOD = """
[server]
listen = "127.0.0.1:9000"
[storage]
path = "/srv/cg"
storage_limit = "20GB"
segment_duration = 4
[[streams]]
name = "front"
title = "Front door"
inputs = [{ url = "rtsp://u:p@192.0.2.10:554/s1" },
          { url = "rtsp://u:p@192.0.2.10:554/s2", transport = "udp" }]
dvr = { expiration = 3600, storage_limit = "1GiB" }
"""


def test_defaults() -> None:
    cfg = load(None)
    assert cfg.server.host == "0.0.0.0" and cfg.server.port == 8080
    assert cfg.storage.path == Path("/var/lib/camgate")
    assert cfg.storage.storage_limit == StorageLimit(share=0.8)
    assert cfg.storage.segment_duration == 2.0
    assert cfg.streams == ()


def test_toml_values() -> None:
    cfg = load(GOOD)
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 9000)
    assert cfg.storage.path == Path("/srv/cg")
    assert cfg.storage.storage_limit.bytes == 20 * 10**9
    assert cfg.storage.segment_duration == 4.0
    (s,) = cfg.streams
    assert s.name == "front" and s.title == "Front door"
    assert [i.transport for i in s.inputs] == ["tcp", "udp"]
    assert s.dvr.expiration == 3600
    assert s.dvr.storage_limit == StorageLimit(bytes=2**30)


def test_env_overrides_toml_and_data_dir_overrides_both(tmp_path: Path) -> None:
    env = {
        "CAMGATE_SERVER_LISTEN": "127.0.0.1:9100",
        "CAMGATE_STORAGE_STORAGE_LIMIT": "5GB",
        "CAMGATE_STORAGE_SEGMENT_DURATION": "3",
        "CAMGATE_LOG_LEVEL": "debug",
        "UNRELATED": "x",
    }
    cfg = load(GOOD, env=env)
    assert cfg.server.port == 9100
    assert cfg.storage.storage_limit.bytes == 5 * 10**9
    assert cfg.storage.segment_duration == 3.0
    assert cfg.log_level == "debug"
    assert load(GOOD, env=env, data_dir=tmp_path).storage.path == tmp_path


def test_bad_env_value_is_named() -> None:
    with pytest.raises(ConfigError) as ei:
        load(None, env={"CAMGATE_STORAGE_SEGMENT_DURATION": "999"})
    assert str(ei.value) == (
        "config: storage.segment_duration = 999: must be a number of seconds 0.5..60"
    )


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ('[server]\nlisten = "nowhere"', "server.listen", "'nowhere'"),
        ('[storage]\nstorage_limit = "lots"', "storage.storage_limit", "'lots'"),
        ("[storage]\nexpiration = -5", "storage.expiration", "-5"),
        ('[[streams]]\nname = "Bad Name"\ninputs = ["synthetic://"]', "streams[0].name",
         "'Bad Name'"),
        ('[[streams]]\nname = "api"\ninputs = ["synthetic://"]', "streams[0].name", "'api'"),
        ('[[streams]]\nname = "a"\ninputs = [{url = "http://x/"}]', "streams[0].inputs[0].url",
         "'http://x/'"),
        ('[[streams]]\nname = "a"\ninputs = [{url = "rtsp://h/", transport = "sctp"}]',
         "streams[0].inputs[0].transport", "'sctp'"),
        ('[[streams]]\nname = "a"\ninputs = ["synthetic://?fps=999"]',
         "streams[0].inputs[0].url", "'synthetic://?fps=999'"),
        ('[[streams]]\nname = "a"\ninputs = []', "streams[0].inputs", "[]"),
        ('[[streams]]\nname = "a"\ninputs = ["synthetic://"]\ndvr = {expiration = "1d"}',
         "streams[0].dvr.expiration", "'1d'"),
        ("[storage]\nbogus = 1", "storage.bogus", "1"),
        ("[log]\nlevel = \"loud\"", "log.level", "'loud'"),
    ],
)
def test_bad_field_one_line(text: str, path: str, value: str) -> None:
    with pytest.raises(ConfigError) as ei:
        load(text)
    lines = str(ei.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"config: {path} = {value}: "), lines[0]
    assert len(lines[0].split(": ", 2)[2]) > 5  # says what is allowed


def test_every_bad_field_reported_and_password_redacted() -> None:
    text = (
        '[server]\nlisten = "x"\n[[streams]]\nname = "a"\n'
        'inputs = [{url = "ftp://user:secret@h/"}]\n'
        '[[streams]]\nname = "a"\ninputs = ["synthetic://"]\n'
    )
    with pytest.raises(ConfigError) as ei:
        load(text)
    paths = [e.path for e in ei.value.errors]
    assert paths == ["server.listen", "streams[0].inputs[0].url", "streams[1].name"]
    assert "secret" not in str(ei.value)


def test_invalid_toml_is_one_line() -> None:
    with pytest.raises(ConfigError) as ei:
        load("[server\nlisten=")
    assert len(str(ei.value).splitlines()) == 1


def test_sizes() -> None:
    assert parse_size("512MiB") == StorageLimit(bytes=512 * 2**20)
    assert parse_size("1.5GB") == StorageLimit(bytes=1_500_000_000)
    assert parse_size(1000) == StorageLimit(bytes=1000)
    assert parse_size("80%") == StorageLimit(share=0.8)
    assert parse_size("150%") is None
    assert parse_size(0) is None
    assert parse_size(True) is None


def test_parse_stream_for_the_api() -> None:
    s = parse_stream({"inputs": [{"url": "synthetic://?size=320x240"}]}, "body", name="cam1")
    assert s.name == "cam1"
    with pytest.raises(ConfigError) as ei:
        parse_stream({"name": "other", "inputs": ["synthetic://"]}, "body", name="cam1")
    assert ei.value.errors[0].path == "body.name"


def test_load_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_file(tmp_path / "nope.toml")
    assert str(ei.value).startswith("config: --config = ")


def _camgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", ["check", "run"])
def test_cli_bad_field_exit_2(tmp_path: Path, command: str) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text('[[streams]]\nname = "cam"\ninputs = [{url = "rtsp://h/", transport = "x"}]\n')
    r = _camgate(command, "--config", str(conf), "--data", str(tmp_path / "data"))
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert lines == [
        "config: streams[0].inputs[0].transport = 'x': must be \"tcp\" or \"udp\""
    ], r.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_cli_bad_env_exit_2(tmp_path: Path) -> None:
    r = _camgate("check", "--data", str(tmp_path), env={"CAMGATE_SERVER_LISTEN": "nope"})
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "config: server.listen = 'nope': must be \"HOST:PORT\" with a port 1..65535"
    )


def test_cli_check_ok(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(GOOD)
    r = _camgate("check", "--config", str(conf))
    assert r.returncode == 0, r.stderr
    assert "1 streams" in r.stdout
