"""The docs say what the code does: settings table, defaults, routes, links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobsvc.settings import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
# JOBSVC_* names in the code that are not settings: a Flask config key, and the
# fault points only tests set.
NOT_SETTINGS = {"JOBSVC_SETTINGS", "JOBSVC_FAULT"}


# A variable in the code; a family of them (``JOBSVC_SECRET_<NAME>``) is written
# with ``<NAME>``, or as its prefix in a string (``"JOBSVC_SECRET_"``).
VARIABLE = re.compile(r"(JOBSVC_[A-Z_]*[A-Z])(_<NAME>|_(?=\"))?")


def settings_table() -> dict[str, str]:
    """README's configuration table: variable (or ``PREFIX_<NAME>``) -> its default cell."""
    rows = re.findall(r"^\| `(JOBSVC_[A-Z_]+(?:<NAME>)?)` \|.*\| (.+?) \|$", README, re.M)
    return dict(rows)


def variables_in_code() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "jobsvc").rglob("*.py"):
        for name, family in VARIABLE.findall(path.read_text()):
            names.add(f"{name}_<NAME>" if family else name)
    return names - NOT_SETTINGS


def test_readme_settings_table_lists_every_variable_the_code_reads():
    table, code = set(settings_table()), variables_in_code()
    assert code - table == set(), "read by the code, missing from README's table"
    assert table - code == set(), "in README's table, read by no code"


def test_readme_defaults_are_the_code_defaults():
    defaults = Settings()
    for name, cell in settings_table().items():
        attr = name.removeprefix("JOBSVC_").lower()
        number = re.fullmatch(r"`([0-9.]+)`", cell)
        if number and hasattr(defaults, attr):
            assert float(number.group(1)) == getattr(defaults, attr), name


def routes_in_app() -> set[tuple[str, str]]:
    from jobsvc.web import create_app

    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                found.add((method, re.sub(r"<[^>]+>", "{}", rule.rule)))
    return found


def routes_in_api_doc() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "api.md").read_text()
    rows = re.findall(r"^\| `(GET|POST|PUT|DELETE) (/[^` ?]*)", text, re.M)
    return {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in rows}


def test_api_reference_lists_exactly_the_app_routes():
    assert routes_in_app() == routes_in_api_doc()


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_relative_links_point_at_files_and_headings_that_exist(doc):
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)#:]*)(#[^)]*)?\)", path.read_text()):
        file, anchor = target
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{doc} links to {file}"
        if anchor:
            assert anchor[1:] in anchors(linked), f"{doc} links to {file}{anchor}"


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}
