"""Every command's errors are one line on stderr and a non-zero exit, never a traceback.

Each command of the click group (listed from the group, so a new command is
covered without touching this file) runs as a real process against a Redis
that cannot be used: nothing listening, a URL that does not parse, a wrong
password, a server that never answers.  ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest

from jobsvc.cli import cli
from jobsvc.processes.redis_server import RedisServer, free_port
from tests.conftest import ROOT

PASSWORD = "s3cret-Pa55word"
# A value for each argument a command may take, by its name; anything else gets "x".
SAMPLE_ARGS = {
    "deployment": "prod-eu",
    "task_type": "noop",
    "task_id": "0123456789abcdef",
    "delivery_id": "msg_0123456789abcdef_1",
}


def invocations() -> Iterator[tuple[str, list[str], bool]]:
    """(name, argv, has --redis-url) for every command of the group."""
    for name, command in sorted(cli.commands.items()):
        args = [
            SAMPLE_ARGS.get(p.name or "", "x")
            for p in command.params
            if p.param_type_name == "argument"
        ]
        if name in ("web", "up"):
            args += ["--port", str(free_port())]
        if name in ("worker", "scheduler"):
            args.append("--burst")
        flag = any("--redis-url" in getattr(p, "opts", ()) for p in command.params)
        yield name, [name, *args], flag


# `down` signals the `jobsvc up` of a data dir and never talks to Redis: its own
# one-line errors (no `up` running) are tested in test_up.py.
COMMANDS = [c for c in invocations() if c[0] != "down"]


def jobsvc(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JOBSVC_")}
    return subprocess.run(
        [sys.executable, "-m", "jobsvc", *argv],
        cwd=ROOT,
        env={**base, "JOBSVC_TASK_MODULES": "tests.task_types", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line(proc: subprocess.CompletedProcess, *expected: str) -> None:
    what = f"stdout={proc.stdout!r} stderr={proc.stderr!r}"
    assert proc.returncode != 0, what
    assert "Traceback" not in proc.stderr + proc.stdout, what
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: "), what
    for text in expected:
        assert text in proc.stderr, what


def dead_url(password: str = "") -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


BAD_URLS = {
    "dead": (dead_url, "cannot use Redis"),
    "no scheme": (lambda: "localhost:6379", "invalid Redis URL"),
    "bad port": (lambda: "redis://127.0.0.1:notaport/0", "invalid Redis URL"),
}


@pytest.mark.parametrize("kind", sorted(BAD_URLS))
@pytest.mark.parametrize(("name", "argv", "has_flag"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_says_one_line_for_an_unusable_redis_url(kind, name, argv, has_flag):
    make_url, expected = BAD_URLS[kind]
    assert_one_line(jobsvc(argv, {"JOBSVC_REDIS_URL": make_url()}), expected)
    if has_flag:
        assert_one_line(jobsvc([*argv, "--redis-url", make_url()], {}), expected)


@pytest.mark.parametrize(("name", "argv", "has_flag"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_never_prints_the_redis_password(name, argv, has_flag):
    proc = jobsvc(argv, {"JOBSVC_REDIS_URL": dead_url(PASSWORD)})
    assert_one_line(proc, ":***@")
    assert PASSWORD not in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("locked"), appendonly=False, password=PASSWORD)
    with server:
        yield server


@pytest.mark.parametrize("command", ["status", "worker", "scheduler"])
def test_a_wrong_password_is_one_line_naming_the_refusal(locked_redis, command):
    url = f"redis://:wrong-{PASSWORD}@127.0.0.1:{locked_redis.port}/0"
    argv = [command] + (["--burst"] if command != "status" else [])
    proc = jobsvc(argv, {"JOBSVC_REDIS_URL": url})
    assert_one_line(proc, "refused the credentials")
    assert PASSWORD not in proc.stderr


def test_a_redis_that_never_answers_is_one_line_after_its_timeout():
    """A port that accepts connections and then says nothing: a timeout, not a hang."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        assert_one_line(
            jobsvc(["status"], {"JOBSVC_REDIS_URL": url}), "cannot use Redis", "Timeout"
        )


def test_without_a_redis_url_and_no_jobsvc_up_every_command_says_so(tmp_path):
    env = {"JOBSVC_DATA_DIR": str(tmp_path)}
    for name, argv, _ in COMMANDS:
        if name == "up":  # with no URL, up starts a Redis of its own
            continue
        assert_one_line(jobsvc(argv, env), "no Redis")


@pytest.mark.parametrize("debug", [["--debug"], []])
def test_debug_shows_the_traceback(debug):
    env = {"JOBSVC_REDIS_URL": dead_url()} | ({} if debug else {"JOBSVC_DEBUG": "1"})
    proc = jobsvc([*debug, "status"], env)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "ConnectionError" in proc.stderr


def test_every_option_and_command_has_help_text():
    missing = [
        f"{name} {param.name}"
        for name, command in cli.commands.items()
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    missing += [name for name, command in cli.commands.items() if not command.help]
    assert missing == []
