"""Response headers that tell browsers how to treat what the server sends, checked exactly."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
import requests

from jobsvc.settings import Settings
from jobsvc.web import create_app
from tests.api_client import serve
from tests.helpers import wait_ended

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Page(HTMLParser):
    """What a page loads, and whatever it carries inline."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and names.get("src"):
            self.assets.append(str(names["src"]))
        elif tag == "link" and names.get("rel") == "stylesheet":
            self.assets.append(str(names["href"]))
        self._in = tag
        inline = [name for name in names if name == "style" or name.startswith("on")]
        self.inline += [f"{tag} {name}=" for name in inline]

    def handle_data(self, data: str) -> None:
        if self._in in ("script", "style") and data.strip():
            self.inline.append(f"<{self._in}> {data.strip()[:40]}")

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


@pytest.fixture
def with_tokens(env: dict[str, str]) -> Iterator[str]:
    with serve(create_app(Settings.from_env({**env, "JOBSVC_API_TOKENS": "ci:s3cret"}))) as url:
        yield url


def test_dashboard_page_sends_csp_nosniff_and_no_framing(web_server: str) -> None:
    r = requests.get(web_server + "/", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_dashboard_page_has_no_inline_script_or_style(web_server: str) -> None:
    """Everything it runs comes from files the policy's 'self' allows."""
    page = parse(requests.get(web_server + "/", timeout=30).text)
    assert page.inline == []
    assert any(asset.endswith(".js") for asset in page.assets), page.assets


@pytest.mark.parametrize("server", ["web_server", "with_tokens"])
def test_dashboard_assets_are_served_without_a_token(
    request: pytest.FixtureRequest, server: str
) -> None:
    base = request.getfixturevalue(server)
    page = requests.get(base + "/", timeout=30)
    assert page.status_code == 200
    types = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",)}
    assets = parse(page.text).assets
    assert {asset.rsplit(".", 1)[1] for asset in assets} == {"js", "css"}, assets
    for asset in assets:
        r = requests.get(urljoin(base + "/", asset), timeout=30)
        assert r.status_code == 200, (asset, r.status_code)
        mimetype = r.headers["Content-Type"].split(";")[0]
        assert mimetype in types[asset[asset.rindex(".") :]], (asset, mimetype)
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_task_log_is_plain_utf8_text_never_sniffed(web_server: str, svc, make_worker) -> None:
    make_worker()
    html = "<script>alert(1)</script>"
    task = svc.submit("prod-eu", "echo", {"lines": [html, "caf\u00e9"]})
    wait_ended(svc, task.id)
    r = requests.get(f"{web_server}/api/v1/tasks/{task.id}/log", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.content == f"{html}\ncaf\u00e9\n".encode()


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/0123456789abcdef", "/healthz"])
def test_json_answers_are_never_sniffed(web_server: str, path: str) -> None:
    r = requests.get(web_server + path, timeout=30)
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
