"""The one loopback rule, used by gunicorn's start hook, ``jobsvc web`` and the web app."""

from __future__ import annotations

import pytest

from jobsvc import loopback


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::1%lo", True),
        ("::ffff:127.0.0.1", True),
        ("foo.localhost", False),
        ("localhost.", False),
        ("localhost.evil.example", False),
        ("127.1", False),
        ("2130706433", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.5", False),
        ("10.0.0.5", False),
        ("evil.example", False),
        ("", False),
    ],
)
def test_loopback_host(host: str, expected: bool) -> None:
    assert loopback.is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        (None, True),
        ("", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("10.0.0.5", False),
    ],
)
def test_loopback_peer(addr: str | None, expected: bool) -> None:
    assert loopback.is_loopback_peer(addr) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost", ("localhost", None)),
        ("LOCALHOST:8000", ("localhost", 8000)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:8000", ("::1", 8000)),
        ("[::1]", ("::1", None)),
        ("evil.example", ("evil.example", None)),
        ("", None),
        ("::1", None),
        ("localhost:", None),
        ("localhost:0", None),
        ("localhost:65536", None),
        ("localhost:8000:1", None),
        ("a@localhost", None),
        ("localhost/x", None),
        ("localhost :80", None),
        ("[::1]x", None),
        ("localhost\n", None),
    ],
)
def test_split_host(value: str, expected: tuple[str, int | None] | None) -> None:
    assert loopback.split_host(value) == expected
