"""One navigation on every staff page: each role sees exactly the sections it may open
(portal, reports, push, simulator, audit, accounts), every entry opens, the current section
is marked, and every staff page — reports, push and simulator included — carries it."""
from __future__ import annotations

import re

import pytest

from portal.testing import app_config, login_as, make_staff

SECTIONS = {"概览": "/staff/", "发布": "/staff/releases", "上传": "/staff/uploads",
            "即将到期": "/staff/expiring", "舆情与回应": "/staff/insights/", "定向推送": "/staff/push",
            "公众号模拟器": "/staff/simulator/", "审计": "/staff/audit", "账号": "/staff/users"}
EVERYONE = {"概览", "发布", "即将到期", "舆情与回应", "公众号模拟器"}
EXPECTED = {"drafter": EVERYONE | {"上传"}, "reviewer": EVERYONE | {"定向推送", "审计"},
            "signer": EVERYONE | {"定向推送", "审计"}, "admin": set(SECTIONS)}
NAV = re.compile(r'<nav id="staff-nav".*?</nav>', re.S)
LINK = re.compile(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>')


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("nav"))))
    users = {role: make_staff(app, f"u{role}", role, "区人社局") for role in EXPECTED}
    yield app, users
    app.extensions["policybot"].db.dispose()


def nav_of(html: str) -> list[tuple[str, str, bool]]:
    block = NAV.search(html)
    assert block, "no staff navigation on the page"
    return [(label, url, bool(current)) for url, current, label in LINK.findall(block.group(0))]


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_what_it_may_open_and_each_entry_opens(world, role):
    app, users = world
    client = app.test_client()
    login_as(client, app, users[role])
    entries = nav_of(client.get("/staff/").get_data(as_text=True))
    assert {label for label, _, _ in entries} == EXPECTED[role]
    for label, url, _ in entries:
        assert url == SECTIONS[label]
        page = client.get(url)
        assert page.status_code == 200, (label, page.status_code)
        html = page.get_data(as_text=True)
        current = [name for name, _, is_current in nav_of(html) if is_current]
        assert current == [label], (url, current)  # the way back is on the page, and where you are
        assert 'href="/staff/"' in html and 'id="public-site"' in html
    for label in set(SECTIONS) - EXPECTED[role]:  # what is not offered is refused by the server
        assert client.get(SECTIONS[label]).status_code == 403, label
