"""Role × route × method over EVERY rule of app.url_map, against a permission table written
here (independent of the decorators); the CSRF matrix over every state-changing staff route;
and no state change on any GET."""
from __future__ import annotations

import io

import pytest
from conftest import make_interpretation, make_policy
from werkzeug.routing import IntegerConverter

from portal.testing import TEST_PASSWORD, app_config, csrf, fingerprint, login_as, make_staff

ROLES = ("anonymous", "drafter", "drafter_other", "reviewer", "signer", "admin")
STAFF = {"drafter", "drafter_other", "reviewer", "signer", "admin"}
EVERYONE = STAFF | {"anonymous"}
DRAFT = {"drafter", "drafter_other", "admin"}
DRAFT_OWN = {"drafter", "admin"}  # drafting on a release of the drafter's own department
REVIEW = {"reviewer", "admin"}
SIGN = {"signer", "admin"}
OVERSIGHT = {"reviewer", "signer", "admin"}

# endpoint -> method -> roles that may reach it
EXPECTED = {
    "portal.static": {"GET": EVERYONE},
    "portal.login": {"GET": EVERYONE},
    "portal.login_post": {"POST": EVERYONE},
    "portal.logout": {"POST": EVERYONE},
    "portal.password_form": {"GET": STAFF},
    "portal.password_change": {"POST": STAFF},
    "portal.dashboard": {"GET": STAFF},
    "portal.expiring_page": {"GET": STAFF},
    "portal.audit_page": {"GET": OVERSIGHT},
    "portal.users_page": {"GET": {"admin"}},
    "portal.create_user": {"POST": {"admin"}},
    "portal.set_user_active": {"POST": {"admin"}},
    "portal.reset_user_password": {"POST": {"admin"}},
    "portal.set_user_role": {"POST": {"admin"}},
    "portal.clear_user_throttle": {"POST": {"admin"}},
    "portal.uploads_page": {"GET": DRAFT},
    "portal.upload_post": {"POST": DRAFT},
    "portal.upload_page": {"GET": DRAFT_OWN},  # another department's upload: 404
    "portal.use_upload": {"POST": DRAFT_OWN},
    "portal.releases_page": {"GET": STAFF},
    "portal.release_page": {"GET": STAFF},
    "portal.diff_page": {"GET": STAFF},
    "portal.new_release_page": {"GET": DRAFT},
    "portal.create_release": {"POST": DRAFT},
    "portal.new_document_page": {"GET": DRAFT_OWN},
    "portal.new_supplement_page": {"GET": DRAFT},
    "portal.create_supplement": {"POST": DRAFT},
    "portal.add_document": {"POST": DRAFT_OWN},
    "portal.edit_document_page": {"GET": DRAFT},
    "portal.save_document": {"POST": DRAFT_OWN},
    "portal.submit": {"POST": DRAFT_OWN},
    "portal.resolve_finding": {"POST": REVIEW},
    "portal.review": {"POST": REVIEW},
    "portal.send_back": {"POST": OVERSIGHT},
    "portal.sign": {"POST": SIGN},
    "portal.publish": {"POST": SIGN},
    "portal.withdraw": {"POST": SIGN},
    "portal.retire": {"POST": SIGN},
    "portal.retry_consumer": {"POST": SIGN},
    "portal.push_overview": {"GET": OVERSIGHT},
    "portal.push_release": {"GET": OVERSIGHT},
    "portal.push_decide": {"POST": OVERSIGHT},
    "portal.simulator_page": {"GET": STAFF},
    "portal.simulator_send": {"POST": STAFF},
    # the one-time setup link is gone once a staff account exists: 404 for everyone
    "portal.setup_page": {"GET": "gone"},
    "portal.setup_post": {"POST": "gone"},
}
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# Refused as "not found", so that another department's upload is not even known to exist.
HIDDEN_WHEN_REFUSED = {"portal.upload_page", "portal.use_upload"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("matrix"))))
    users = {"drafter": make_staff(app, "zhang", "drafter", "区人社局"),
             "drafter_other": make_staff(app, "qian", "drafter", "区教育局"),
             "reviewer": make_staff(app, "wang", "reviewer", "区党政办"),
             "signer": make_staff(app, "zhao", "signer", "区管委会"),
             "admin": make_staff(app, "root", "admin", "区政务公开办"),
             "spare": make_staff(app, "spare", "drafter", "区人社局")}
    releases = app.extensions["policybot"].releases
    rid = releases.create(users["drafter"].actor, make_policy("p1", text="第一条 联系电话13912345678。\n"),
                          [make_interpretation("i1", "p1")])
    releases.submit(users["drafter"].actor, rid)
    finding = releases.get(rid)["findings"][0]["id"]
    client = app.test_client()
    login_as(client, app, users["drafter"])
    reply = client.post("/staff/uploads", data={"csrf_token": csrf(client), "file": (
        io.BytesIO("关于测试的通知\n一、总则\n".encode()), "测试.txt")})
    upload = reply.headers["Location"].rsplit("/", 1)[-1]
    major = make_policy("major1", importance="major")
    releases.create(users["admin"].actor, major, [make_interpretation("major1-i", "major1")])
    _publish(releases, users, releases.release_of("major1"), drafter="admin")
    params = {
        "policy_id": "major1",
        "release_id": rid,
        "doc_id": "p1",
        "finding_id": finding,
        "upload_id": upload,
        "user_id": users["spare"].id,
        "filename": "portal.css",
        "consumer": "insights",
    }
    yield app, users, params
    app.extensions["policybot"].db.dispose()


def _publish(releases, users, release_id, drafter="drafter"):
    releases.submit(users[drafter].actor, release_id)
    releases.review(users["reviewer"].actor, release_id, "ok")
    releases.sign(users["signer"].actor, release_id)
    releases.publish(users["signer"].actor, release_id)


def _url(app, rule, params):
    values = {}
    for name in rule.arguments:
        numeric = isinstance(rule._converters[name], IntegerConverter)
        values[name] = params.get(name, 1 if numeric else "x")
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **values)


def _methods(rule):
    return sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))


def _client_as(app, users, role):
    client = app.test_client()
    if role != "anonymous":
        login_as(client, app, users[role])
    else:
        csrf(client)
    return client


def _data(client, users, endpoint):
    data = {"csrf_token": csrf(client), "reason": "matrix", "note": "matrix", "title": "矩阵测试",
            "text": "第一条 测试。", "password": "Another-Pass-77", "target": "new", "status": "expired"}
    if endpoint == "portal.login_post":
        data.update(username="spare", password=TEST_PASSWORD)
    return data


def _refused(response) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code in (401, 403) or (response.status_code == 302 and "/staff/login" in location)


def _is_staff(rule) -> bool:
    return rule.rule == "/staff" or rule.rule.startswith("/staff/")


def test_role_route_method_matrix(world):
    app, users, params = world
    db = app.extensions["policybot"].db
    mismatches, checked, others = [], 0, []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in _methods(rule):
            expected = EXPECTED.get(rule.endpoint, {}).get(method)
            if expected is None and rule.endpoint.startswith("portal."):
                mismatches.append(f"{method} {rule.rule}: not in the permission table")
                continue
            if expected is None and not _is_staff(rule):
                others.append(f"{method} {rule.rule}")
            for role in ROLES:
                client = _client_as(app, users, role)
                url = _url(app, rule, params)
                # GETs never change anything; refused POSTs must not either
                watch = method == "GET" or expected == "gone" or role not in (expected or EVERYONE)
                before = fingerprint(db) if watch else None
                try:
                    response = client.open(url, method=method, data=_data(client, users, rule.endpoint)
                                           if method in STATE_CHANGING else None)
                except Exception as crash:  # TESTING propagates exceptions: count it, go on
                    mismatches.append(f"{role:14} {method:6} {rule.rule}: server error {crash!r}")
                    continue
                checked += 1
                problem = _judge(rule, method, role, expected, response)
                if before is not None and fingerprint(db) != before:
                    problem = (
                        problem or f"{'GET' if method == 'GET' else 'a refused request'} changed the database"
                    )
                if problem:
                    mismatches.append(f"{role:14} {method:6} {rule.rule}: {problem} ({response.status_code})")
    print(f"\nrole × route × method matrix: {checked} requests over {len(list(app.url_map.iter_rules()))} "
          f"rules; mismatches {len(mismatches)}; public routes of other blueprints checked for "
          f"GET-safety: {len(others)}")
    assert mismatches == [], "\n".join(mismatches)


def _judge(rule, method, role, expected, response) -> str | None:
    if response.status_code >= 500:
        return "server error"
    if expected is None:
        static_asset = rule.endpoint.endswith(".static")  # CSS/JS of a blueprint: public
        if _is_staff(rule) and not static_asset and role == "anonymous" and not _refused(response):
            return "a staff page answered an anonymous visitor"
        return None
    if expected == "gone":
        return None if response.status_code == 404 else "the setup link answered"
    allowed = role in expected
    if allowed and _refused(response):
        return "refused, but the table allows it"
    if allowed and response.status_code == 404:
        return "not found for an allowed role"
    hidden = rule.endpoint in HIDDEN_WHEN_REFUSED and response.status_code == 404
    if not allowed and not (_refused(response) or hidden):
        return "allowed, but the table refuses it"
    return None


def test_csrf_matrix(world):
    """Every state-changing staff route refuses a missing or a wrong token, changing nothing."""
    app, users, params = world
    db = app.extensions["policybot"].db
    routes = [(rule, m) for rule in app.url_map.iter_rules() if _is_staff(rule)
              for m in _methods(rule) if m in STATE_CHANGING]
    refused = 0
    for rule, method in routes:
        for token in (None, "wrong-token"):
            client = _client_as(app, users, "admin")
            data = _data(client, users, rule.endpoint)
            data.pop("csrf_token")
            if token:
                data["csrf_token"] = token
            before = fingerprint(db)
            response = client.open(_url(app, rule, params), method=method, data=data)
            assert response.status_code == 400, (
                f"{method} {rule.rule} with token {token!r}: {response.status_code}"
            )
            assert fingerprint(db) == before, f"{method} {rule.rule} changed the database without a token"
            refused += 1
    print(
        f"\nCSRF matrix: {refused}/{2 * len(routes)} refused over {len(routes)} state-changing staff routes"
    )
    assert len(routes) >= 20


def test_every_portal_endpoint_is_in_the_table(world):
    app, _, _ = world
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("portal.")}
    assert endpoints == set(EXPECTED)
