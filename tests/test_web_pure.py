"""Pure pieces of the web platform: login throttling, collections, rate meter, media tokens."""

from __future__ import annotations

import pytest

from gateway.web.auth import check_media_token, media_token
from gateway.web.collection import QueryError, page, parse_query
from gateway.web.ratelimit import LoginLimiter
from gateway.web.stream_stats import RateMeter, redact_text


def test_limiter_backs_off_exponentially_and_forgets() -> None:
    lim = LoginLimiter(free=3, base=1.0, cap=8.0, forget=100.0)
    keys = ["ip:a", "login:admin"]
    for _ in range(3):
        assert lim.retry_after(keys, 0.0) == 0
        lim.failure(keys, 0.0)
    assert lim.retry_after(keys, 0.0) == pytest.approx(1.0)  # 2**0 after the free tries
    lim.failure(keys, 1.0)
    assert lim.retry_after(keys, 1.0) == pytest.approx(2.0)
    for t in range(2, 10):
        lim.failure(keys, float(t))
    assert lim.retry_after(keys, 9.0) == pytest.approx(8.0)  # capped
    # another address for the same login is throttled by the login key too
    assert lim.retry_after(["ip:b", "login:admin"], 9.0) > 0
    assert lim.retry_after(["ip:b", "login:other"], 9.0) == 0
    assert lim.retry_after(keys, 9.0 + 101) == 0  # forgotten
    lim.failure(keys, 0.0)
    lim.success(keys)
    assert lim.retry_after(keys, 0.0) == 0


def test_limiter_is_bounded() -> None:
    lim = LoginLimiter(max_keys=10)
    for i in range(100):
        lim.failure([f"ip:{i}"], float(i))
    assert len(lim._entries) <= 10


def test_media_tokens() -> None:
    key = b"k" * 32
    tok = media_token(key, "cam", 60, 1000.0)
    assert check_media_token(key, "cam", tok, 1059.0)
    assert not check_media_token(key, "cam", tok, 1060.0)  # expired
    assert not check_media_token(key, "cam2", tok, 1000.0)  # another stream
    assert not check_media_token(b"x" * 32, "cam", tok, 1000.0)  # another device
    exp, sig = tok.split(".")
    assert not check_media_token(key, "cam", f"{int(exp) + 1000}.{sig}", 1000.0)
    assert not check_media_token(key, "cam", "garbage", 1000.0)


ITEMS = [{"name": n, "title": t, "stats": {"alive": a, "bitrate": b}}
         for n, t, a, b in [("a", "Zed", True, 5), ("b", "Yak", False, 9), ("c", "Xu", True, 1)]]


def test_collection_pages_and_projection() -> None:
    q = parse_query({"limit": "2", "sort": "-stats.bitrate", "select": "name,stats.bitrate"},
                    sortable=["name", "stats.bitrate"])
    first = page(ITEMS, q, "streams")
    assert first["streams"] == [{"name": "b", "stats": {"bitrate": 9}},
                                {"name": "a", "stats": {"bitrate": 5}}]
    assert first["estimated_count"] == 3 and first["prev"] is None
    q2 = parse_query({"limit": "2", "sort": "-stats.bitrate", "select": "name",
                      "cursor": first["next"]}, sortable=["name", "stats.bitrate"])
    second = page(ITEMS, q2, "streams")
    assert second["streams"] == [{"name": "c"}] and second["next"] is None
    assert second["prev"] is not None
    q3 = parse_query({"stats.alive": "true", "q": "z"}, sortable=["name"],
                     filterable=["stats.alive"])
    assert [i["name"] for i in page(ITEMS, q3, "streams")["streams"]] == ["a"]
    with pytest.raises(QueryError) as exc:
        parse_query({"sort": "secret", "limit": "x", "cursor": "!!"}, sortable=["name"])
    assert set(exc.value.errors) == {"sort", "limit", "cursor"}


def test_rate_meter_window() -> None:
    m = RateMeter(window=5.0)
    for t in range(0, 20):
        m.sample(float(t), t * 1000)
    assert m.rate() == pytest.approx(1000.0)
    m.sample(20.0, 19_000)  # stalled for a second
    assert m.rate() < 1000.0


def test_error_texts_hide_url_passwords() -> None:
    text = "cannot open rtsp://u:hunter2@10.0.0.1/s: 401"
    assert redact_text(text) == "cannot open rtsp://u:***@10.0.0.1/s: 401"
