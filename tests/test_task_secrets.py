"""Reading secrets for an attempt and checking their names, without Redis."""

from __future__ import annotations

import pytest

from jobsvc.errors import ConfigError
from jobsvc.task_secrets import SecretMissing, check_names, read
from jobsvc.types import registry, sandbox


def test_a_file_wins_over_the_environment_and_loses_one_trailing_newline(tmp_path):
    (tmp_path / "TOKEN").write_text("from-file\n\n")
    env = {"JOBSVC_SECRET_TOKEN": "from-env"}
    assert read(["TOKEN"], tmp_path, env) == {"TOKEN": "from-file\n"}


def test_a_crlf_ending_is_one_newline(tmp_path):
    (tmp_path / "TOKEN").write_bytes(b"windows-made\r\n")
    assert read(["TOKEN"], tmp_path, {}) == {"TOKEN": "windows-made"}


def test_without_a_file_the_environment_variable_is_read(tmp_path):
    env = {"JOBSVC_SECRET_TOKEN": "from-env"}
    assert read(["TOKEN"], tmp_path, env) == {"TOKEN": "from-env"}
    assert read(["TOKEN"], None, env) == {"TOKEN": "from-env"}


def test_a_missing_secret_is_named_with_where_it_was_looked_for(tmp_path):
    with pytest.raises(SecretMissing) as caught:
        read(["TOKEN", "OTHER"], tmp_path, {"JOBSVC_SECRET_TOKEN": "present-value"})
    message = str(caught.value)
    assert "OTHER" in message and str(tmp_path / "OTHER") in message
    assert "JOBSVC_SECRET_OTHER" in message and "present-value" not in message


def test_an_unreadable_file_is_missing_and_says_it_is_unreadable(tmp_path):
    (tmp_path / "TOKEN").mkdir()  # unreadable as a file, even for root
    with pytest.raises(SecretMissing, match="TOKEN.*unreadable"):
        read(["TOKEN"], tmp_path, {"JOBSVC_SECRET_TOKEN": "not-used-then"})


def test_a_file_that_is_not_utf8_is_refused_without_showing_its_bytes(tmp_path):
    (tmp_path / "TOKEN").write_bytes(b"\xff\xfesecret-bytes")
    with pytest.raises(SecretMissing) as caught:
        read(["TOKEN"], tmp_path, {})
    assert "UTF-8" in str(caught.value) and "secret-bytes" not in str(caught.value)
    assert caught.value.__suppress_context__


def test_an_environment_value_that_is_not_utf8_is_refused_without_showing_it():
    value = b"\xff\xfesecret-bytes".decode("utf-8", "surrogateescape")  # as os.environ reads it
    with pytest.raises(SecretMissing) as caught:
        read(["TOKEN"], None, {"JOBSVC_SECRET_TOKEN": value})
    assert "UTF-8" in str(caught.value) and "secret-bytes" not in str(caught.value)


def test_a_value_too_short_to_mask_is_refused(tmp_path):
    with pytest.raises(SecretMissing, match="shorter than 4"):
        read(["TOKEN"], None, {"JOBSVC_SECRET_TOKEN": "abc"})
    (tmp_path / "EMPTY").write_text("\n")
    with pytest.raises(SecretMissing, match="EMPTY"):
        read(["EMPTY"], tmp_path, {})


@pytest.mark.parametrize("name", ["token", "1TOKEN", "../TOKEN", "A.B", "A-B", "", "X" * 129])
def test_names_that_are_no_env_variable_or_plain_file_are_refused(name):
    with pytest.raises(ValueError, match="secret name"):
        check_names([name])


def test_a_string_is_not_a_list_of_names():
    with pytest.raises(ValueError, match="list of names"):
        check_names("TOKEN")


def test_a_type_with_a_bad_secret_name_is_refused_at_registration():
    with pytest.raises(ValueError, match="lower"):
        registry.task("bad-secret-name", secrets=["lower"])
    assert registry.get("bad-secret-name") is None


def test_a_shell_command_s_secrets_are_checked_as_configuration():
    ok = sandbox.parse_allowlist('{"d": {"argv": ["deploy"], "secrets": ["DEPLOY_TOKEN"]}}')
    assert ok["d"].secrets == ("DEPLOY_TOKEN",)
    for bad in ('["x"]', '"X"', '["PATH"]', '["lower"]'):
        with pytest.raises(ConfigError, match="secrets|secret name"):
            sandbox.parse_allowlist(f'{{"d": {{"argv": ["deploy"], "secrets": {bad}}}}}')


def test_the_shell_child_gets_its_secrets_by_name_and_nothing_of_the_worker(monkeypatch):
    monkeypatch.setenv("JOBSVC_SECRET_DEPLOY_TOKEN", "worker-side")
    env = sandbox.child_env("/tmp/w", {"DEPLOY_TOKEN": "the-value"})
    assert env["DEPLOY_TOKEN"] == "the-value"
    assert not [k for k in env if k.startswith("JOBSVC_")]
