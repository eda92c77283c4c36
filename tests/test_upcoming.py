"""即将施行: a major policy published today that takes effect tomorrow is not yet in the
现行有效目录 nor in the 解读率, and every place that shows those says why (the catalogue
page and command, the staff dashboard); from its first day it counts."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_interpretation, make_policy

from interpretations.coverage import interpretation_coverage
from policies.validity import local_today
from portal.testing import app_config, login_as, make_staff


@pytest.fixture
def world(tmp_path):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "inst")))
    users = {r: make_staff(app, n, r, d) for r, n, d in (
        ("drafter", "zhang", "区人社局"), ("reviewer", "wang", "区党政办"), ("signer", "zhao", "区管委会"))}
    tomorrow = local_today(app.config["TIMEZONE"]) + dt.timedelta(days=1)
    releases = app.extensions["policybot"].releases
    policy = make_policy("soon", title="经开区青年人才安居办法", importance="major",
                         valid_from=tomorrow.isoformat(), topics=["住房保障"])
    release = releases.create(users["drafter"].actor, policy, [make_interpretation("soon-i", "soon")])
    releases.submit(users["drafter"].actor, release)
    releases.review(users["reviewer"].actor, release, "已检查")
    releases.sign(users["signer"].actor, release)
    releases.publish(users["signer"].actor, release)
    yield app, users, tomorrow
    app.extensions["policybot"].db.dispose()


def test_the_catalogue_page_lists_it_as_upcoming_not_in_force(world):
    app, _, tomorrow = world
    html = app.test_client().get("/catalogue").get_data(as_text=True)
    listed, _, upcoming = html.partition('id="upcoming"')
    assert "经开区青年人才安居办法" not in listed
    assert "经开区青年人才安居办法" in upcoming and f"尚未施行（{tomorrow.isoformat()}起施行）" in upcoming
    other_topic = app.test_client().get("/catalogue?topic=就业创业").get_data(as_text=True)
    assert "经开区青年人才安居办法" not in other_topic  # the filters apply to this list too
    assert "1 件已发布、尚未施行" in app.test_client().get("/").get_data(as_text=True)


def test_its_pages_say_when_it_takes_effect_not_that_it_ran_out(world):
    """The policy page and its interpretation's: the day it takes effect, in words a resident
    reads (2026年12月1日), and none of the banner of an expired document."""
    app, _, tomorrow = world
    client = app.test_client()
    for path in ("/p/soon", "/p/soon-i"):
        html = client.get(path).get_data(as_text=True)
        banner = html.split('id="banner-title"')[1].split("</section>")[0]
        assert f"本文件将于{tomorrow.year}年{tomorrow.month}月{tomorrow.day}日起施行" in banner, path
        assert "请仍按现行规定办理" in banner
        assert "暂未查到替代它的现行文件" not in html and "不代表现行政策" not in html


def test_the_dashboard_says_why_the_rate_did_not_move(world):
    app, users, tomorrow = world
    client = app.test_client()
    login_as(client, app, users["signer"])
    html = client.get("/staff/").get_data(as_text=True)
    assert "0 / 0 项现行有效的重大政策已有解读" in html
    assert "另有 1 项重大政策已发布、尚未施行，自施行之日起计入解读率" in html
    assert f"《经开区青年人才安居办法》 {tomorrow.isoformat()} 起施行 · 已有解读" in html


def test_the_catalogue_command_lists_it_and_the_rate_counts_it_from_its_first_day(world):
    app, _, tomorrow = world
    output = app.test_cli_runner().invoke(args=["catalogue"]).output
    assert "即将施行 1:" in output and "《经开区青年人才安居办法》" in output
    assert f"soon from {tomorrow.isoformat()}" in output
    with app.extensions["policybot"].db.read() as conn:
        today, then = interpretation_coverage(conn, tomorrow - dt.timedelta(days=1)), \
            interpretation_coverage(conn, tomorrow)
    assert (today.major, len(today.upcoming)) == (0, 1)
    assert (then.major, then.interpreted, then.upcoming) == (1, 1, [])
