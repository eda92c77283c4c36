"""Integer and date bounds on every route: an id past 2^63 (OverflowError in the driver), past
2^31 (PostgreSQL's integer), a Unicode digit, or a date like 0001-01-01 / 9999-12-31 gets a
400 or 404 with a Chinese message, never a 500."""
from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from tests.test_portal_matrix import _client_as, _methods, _url, world  # noqa: F401 - fixture

NASTY_INTS = (0, 2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30)
NASTY_VALUES = ("0", "-1", "2147483648", "9223372036854775808", "18446744073709551616", "9" * 40,
                "²", "١٢", "1e9", "0001-01-01", "9999-12-31", "2026-02-30", "99999-01-01", "x")
# Every query or form field a view reads as a number or a date.
FIELDS = ("release", "since", "until", "date", "due_date", "task_id", "target", "user_id",
          "finding_id", "publish_date", "valid_from", "valid_until", "made_on", "period")


def _requests(app, params):
    """(method, url, data) for every rule: its path integers, then each nasty field value."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static") or rule.rule == "/wechat":
            continue
        ints = [a for a in rule.arguments if isinstance(rule._converters[a], IntegerConverter)]
        for method in _methods(rule):
            base = _url(app, rule, params)
            for name in ints:
                for value in NASTY_INTS:
                    yield method, _url(app, rule, {**params, name: value}), None
            for value in NASTY_VALUES:
                fields = {f: value for f in FIELDS}
                if method == "GET":
                    yield method, base, fields
                else:
                    yield method, base, {**fields, "title": "边界测试", "text": "第一条 测试。",
                                         "reason": "fuzz", "note": "fuzz"}


@pytest.mark.parametrize("role", ["admin", "drafter"])  # anonymous: redirects, and public routes
def test_no_route_answers_5xx_to_out_of_range_numbers_or_dates(world, role):  # noqa: F811
    app, users, params = world
    sent, errors = 0, []
    for method, url, data in _requests(app, params):
        sent += 1
        client = _client_as(app, users, role)
        if method != "GET":
            data = {**(data or {}), "csrf_token": _csrf(client)}
        try:
            response = client.open(url, method=method, query_string=data if method == "GET" else None,
                                   data=data if method != "GET" else None)
        except Exception as crash:  # TESTING propagates exceptions
            errors.append(f"{method} {url} {data and next(iter(data.values()))!r}: {crash!r}")
            continue
        if response.status_code >= 500:
            errors.append(f"{method} {url}: {response.status_code}")
        elif response.status_code in (400, 404) and url.startswith("/staff") :
            text = str(response.get_json()) if response.is_json else response.get_data(as_text=True)
            if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
                errors.append(f"{method} {url}: {response.status_code} without a Chinese message")
    print(f"\ninteger/date fuzz as {role}: {sent} requests over "
          f"{len(list(app.url_map.iter_rules()))} rules; 5xx or crashes {len(errors)}")
    assert errors == [], "\n".join(errors[:40])


def _csrf(client):
    from portal.testing import csrf

    return csrf(client)


def test_a_huge_id_is_not_found_with_a_chinese_message(world):  # noqa: F811
    app, users, _ = world
    client = _client_as(app, users, "admin")
    for url in (f"/staff/releases/{2 ** 63}", f"/staff/releases/{2 ** 31}"):
        response = client.get(url)
        assert response.status_code == 404
        assert "找不到" in response.get_data(as_text=True) or "不存在" in response.get_data(as_text=True)
    response = client.get("/staff/insights/report", query_string={"period": "week", "date": "0001-01-01"})
    assert response.status_code == 400 and "日期" in response.get_data(as_text=True)
