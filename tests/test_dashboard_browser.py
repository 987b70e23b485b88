"""The dashboard in headless Chromium against the real thing: gunicorn as production
runs it, a real Redis, real workers.  Each test checks the page logged no error."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.api_client import Api
from tests.browser import BrowserPage, chromium, screenshot_dir
from tests.helpers import wait_until
from tests.web_process import WebProcess, gunicorn

FULL_TOKEN = "full/token+for=the-browser"
READ_TOKEN = "read-token-for-the-browser"
# A new lane's row must show within this many seconds of its submit's answer.
APPEAR_S = 1.0
# Chromium logs a WebSocket that cannot connect while the server restarts.
RECONNECT_NOISE = r"WebSocket connection to .* failed"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "JOBSVC_API_TOKENS": f"ci:{FULL_TOKEN}",
        "JOBSVC_READ_TOKENS": f"viewer:{READ_TOKEN}",
    }


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def web(env: dict[str, str], tmp_path: Path) -> Iterator[WebProcess]:
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        yield server


@pytest.fixture
def api(web: WebProcess) -> Api:
    return Api(web.base_url, FULL_TOKEN)


@pytest.fixture
def open_page(browser, web: WebProcess, tmp_path: Path) -> Iterator:
    """Opens pages (token in the tab's session, or none); closes them after the test."""
    pages: list[BrowserPage] = []

    def make(token: str | None = FULL_TOKEN) -> BrowserPage:
        page = BrowserPage(browser, web.base_url, screenshot_dir(tmp_path), token)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()


def test_token_is_asked_once_then_kept_in_the_session(open_page, api: Api) -> None:
    bp = open_page(token=None)
    page = bp.page
    page.goto(bp.base_url + "/")
    page.wait_for_selector("#login:not([hidden])")
    bp.screenshot("login")
    page.fill("#token", FULL_TOKEN)
    page.press("#token", "Enter")
    page.wait_for_function("() => document.getElementById('conn').textContent === 'live'")
    assert page.evaluate("sessionStorage.getItem('jobsvc.token')") == FULL_TOKEN
    page.reload()  # the same tab: no second prompt
    page.wait_for_function("() => document.getElementById('conn').textContent === 'live'")
    assert page.is_hidden("#login")
    assert FULL_TOKEN not in page.url
    bp.assert_clean()


def test_a_submit_appears_on_the_deployments_page_within_a_second(open_page, api: Api) -> None:
    for name in ("alpha", "beta"):
        api.submit(name, "noop")
    bp = open_page()
    page = bp.open("#/")
    page.wait_for_selector('tr[data-deployment="beta"]')
    api.submit("gamma", "wait_file", payload={"path": "/nonexistent"})
    answered = time.monotonic()
    page.wait_for_selector('tr[data-deployment="gamma"] .c-status .status.queued')
    assert time.monotonic() - answered < APPEAR_S
    assert page.inner_text('tr[data-deployment="gamma"] .c-depth') == "0"
    bp.screenshot("deployments")
    bp.assert_clean()


def test_task_page_streams_output_in_order_across_a_reconnect(
    open_page, api: Api, web: WebProcess, make_worker, tmp_path: Path
) -> None:
    """The web worker is killed mid-stream: the page reconnects with since=<last id>,
    and what it shows is the task's log exactly, no line missing or doubled."""
    release = tmp_path / "release"
    make_worker()
    task = api.submit("stream", "numbered", payload={"path": str(release)})
    bp = open_page()
    page = bp.open(f"#/tasks/{task['id']}")
    page.wait_for_function("() => document.querySelectorAll('#output .line').length >= 5")
    for worker in psutil.Process(web.proc.pid).children():
        os.kill(worker.pid, signal.SIGKILL)  # gunicorn's master starts another
    page.wait_for_function(
        "() => document.getElementById('live').textContent === 'reconnecting...'"
    )
    shown = page.evaluate("document.querySelectorAll('#output .line').length")
    page.wait_for_function(
        f"() => document.querySelectorAll('#output .line').length >= {shown + 10}"
    )
    bp.screenshot("task-running")
    release.touch()
    page.wait_for_function("() => document.getElementById('live').textContent === 'ended'")
    page.wait_for_selector('[data-field="status"] .status.completed')
    lines = page.eval_on_selector_all("#output .line", "els => els.map(e => e.textContent)")
    log = api.get(f"/tasks/{task['id']}/log").text.splitlines()
    assert lines == log and len(lines) > shown + 10
    assert lines == [f"1:{i}" for i in range(len(lines))]
    bp.assert_clean(allowed=RECONNECT_NOISE)


def test_pause_resume_skip_and_cancel_buttons_act(
    open_page, api: Api, make_worker, tmp_path: Path
) -> None:
    make_worker()
    first = api.submit("ops", "wait_file", payload={"path": str(tmp_path / "never")})
    wait_until(lambda: api.task(first["id"])["status"] == "running", what="the first task to run")
    second = api.submit("ops", "noop")
    third = api.submit("ops", "noop")
    bp = open_page()
    page = bp.open("#/")
    row = 'tr[data-deployment="ops"]'
    page.click(f"{row} button:text('Pause')")
    page.wait_for_selector(f"{row} button:text('Resume')")
    assert api.get("/deployments/ops").json()["paused"] is True
    page.click(f"{row} button:text('Resume')")
    page.wait_for_selector(f"{row} button:text('Pause')")
    assert api.get("/deployments/ops").json()["paused"] is False

    bp.go("#/deployments/ops")
    page.wait_for_selector(f'#queue tr[data-task="{third["id"]}"]')
    positions = page.eval_on_selector_all("#queue tr", "rs => rs.map(r => r.dataset.task)")
    assert positions == [first["id"], second["id"], third["id"]]
    bp.screenshot("deployment")
    page.click(f'#queue tr[data-task="{third["id"]}"] button:text("Skip")')
    page.wait_for_selector(f'#queue tr[data-task="{third["id"]}"]', state="detached")
    assert api.task(third["id"])["status"] == "skipped"
    page.click(f'#queue tr[data-task="{first["id"]}"] button:text("Cancel")')
    page.wait_for_selector(f'#queue tr[data-task="{first["id"]}"]', state="detached")
    assert api.task(first["id"])["status"] == "canceled"
    wait_until(lambda: api.task(second["id"])["status"] == "completed", what="the lane to move on")
    page.wait_for_selector(f'#history tr a:text("{second["id"]}")')
    bp.assert_clean()


def test_a_read_token_sees_no_action_buttons(open_page, api: Api) -> None:
    task = api.submit("readonly", "wait_file", payload={"path": "/nonexistent"})
    api.submit("readonly", "noop")
    full = open_page()
    full.open(f"#/deployments/{task['deployment']}")
    full.page.wait_for_selector("#queue button.action")  # the control: full access sees them
    bp = open_page(READ_TOKEN)
    for where, ready in (
        ("#/", 'tr[data-deployment="readonly"] .c-status .status'),
        ("#/deployments/readonly", f'#queue tr[data-task="{task["id"]}"]'),
        (f"#/tasks/{task['id']}", '[data-field="status"] .status'),
    ):
        page = bp.open(where)
        page.wait_for_selector(ready)
        assert bp.action_buttons() == [], where
        assert "read-only" in page.inner_text("#who")
    bp.assert_clean()
    full.assert_clean()


def test_failed_tasks_filter_and_workers_page(open_page, api: Api, make_worker) -> None:
    make_worker()
    failed = api.submit("builds", "fail", payload={"times": 5}, maxRetries=0)
    done = api.submit("builds", "echo", payload={"lines": ["<b>not bold</b>"]})
    wait_until(lambda: api.task(done["id"])["status"] == "completed", what="the echo to end")
    assert api.task(failed["id"])["status"] == "failed"
    bp = open_page()
    page = bp.open("#/tasks?status=failed")
    page.wait_for_selector(f'#tasks tr[data-task="{failed["id"]}"]')
    assert page.eval_on_selector_all("#tasks tr", "rs => rs.length") == 1
    bp.screenshot("tasks-failed")
    page.select_option("select[name=status]", "completed")
    page.wait_for_selector(f'#tasks tr[data-task="{done["id"]}"]')
    assert "status=completed" in page.url

    bp.go(f"#/tasks/{failed['id']}")
    page.wait_for_selector("#error pre.traceback")
    assert "Traceback" in page.inner_text("#error pre.traceback")
    bp.screenshot("task-failed")
    bp.go(f"#/tasks/{done['id']}")
    page.wait_for_selector("#output .line")
    # Output is text: the markup is shown, not made into an element.
    assert page.inner_text("#output .line") == "<b>not bold</b>"
    assert page.query_selector("#output b") is None

    bp.go("#/workers")
    page.wait_for_selector("#pools tr[data-worker]")
    assert "idle" in page.inner_text("#pools") or "busy" in page.inner_text("#pools")
    assert "ago" in page.inner_text("#pools")
    bp.screenshot("workers")
    bp.assert_clean()
