"""Throttling slows an attacker, never locks staff out (issue 13, finding 2).

An attacker sends 100 failed logins — for invented names and for `admin1` — from one address,
and again through the trusted reverse proxy from 100 addresses; `admin1` then signs in with the
right password from another address. Before, 20 failures from one address (or 5 for a name)
refused even the right password for 15 minutes, and behind the proxy every member of staff
shared one address. The attacker's guesses per hour per name are counted by letting the
attack run for an hour of a simulated clock (the throttle's and the rate limiter's).
"""
from __future__ import annotations

import datetime as dt
import re
import types
from unittest import mock

import limits.storage.memory
import limits.strategies
import pytest

from portal.testing import TEST_PASSWORD, app_config, make_staff

PROXY = "10.0.0.1"


class Clock:
    def __init__(self):
        self.now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def world(tmp_path):
    from server import create_app, start

    app = start(create_app({**app_config(tmp_path / "i"), "TRUSTED_PROXIES": PROXY}))
    clock = Clock()
    app.extensions["policybot"].login_throttle.clock = clock
    fake_time = types.SimpleNamespace(time=lambda: clock().timestamp(), sleep=lambda s: None)
    with mock.patch.object(limits.storage.memory, "time", fake_time), \
            mock.patch.object(limits.strategies, "time", fake_time):
        make_staff(app, "admin1", "admin", "区政务公开办")
        yield app, clock
    app.extensions["policybot"].db.dispose()


def login(client, username, password, address, via_proxy=False):
    environ = {"REMOTE_ADDR": PROXY if via_proxy else address}
    headers = {"X-Forwarded-For": f"6.6.6.6, {address}"} if via_proxy else {}  # the left one is forged
    page = client.get("/staff/login", environ_base=environ, headers=headers)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base=environ, headers=headers)


def attack(app, clock, via_proxy: bool) -> dict:
    """100 failed logins: every other one for admin1, the rest for invented names."""
    counts = {"checked (401)": 0, "refused unchecked (429)": 0}
    for n in range(100):
        name = "admin1" if n % 2 else f"made-up-{n}"
        address = f"198.18.{n // 250}.{n % 250 + 1}" if via_proxy else "203.0.113.7"
        reply = login(app.test_client(), name, f"guess-{n}", address, via_proxy)
        assert reply.status_code in (401, 429), reply.status_code
        if reply.status_code == 429:
            assert int(reply.headers["Retry-After"]) >= 1 and "秒后再试" in reply.text
        counts["checked (401)" if reply.status_code == 401 else "refused unchecked (429)"] += 1
        clock.advance(0.2)
    return counts


def guesses_per_hour(app, clock, via_proxy: bool) -> int:
    """The attacker retries `admin1` as soon as allowed, for one simulated hour."""
    end, guesses, n = clock() + dt.timedelta(hours=1), 0, 0
    while clock() < end:
        n += 1
        address = f"198.19.{n // 250 % 250}.{n % 250 + 1}" if via_proxy else "203.0.113.9"
        reply = login(app.test_client(), "admin1", f"hour-guess-{n}", address, via_proxy)
        if reply.status_code == 401:
            guesses += 1
            clock.advance(0.5)
        else:
            clock.advance(int(reply.headers["Retry-After"]))
    return guesses


@pytest.mark.parametrize("via_proxy", [False, True], ids=["one address", "proxy, many addresses"])
def test_an_attack_does_not_lock_out_the_real_admin(world, via_proxy):
    app, clock = world
    browser = app.test_client()  # admin1's own browser: it signed in here yesterday
    assert login(browser, "admin1", TEST_PASSWORD, "192.0.2.10").status_code == 303
    counts = attack(app, clock, via_proxy)
    # admin1 at another address (the office, a phone), in the browser they use:
    assert login(browser, "admin1", TEST_PASSWORD, "192.0.2.99", via_proxy).status_code == 303
    # and in a new browser: at most a short wait, then the right password works
    stranger = app.test_client()
    reply = login(stranger, "admin1", TEST_PASSWORD, "192.0.2.77", via_proxy)
    waited = 0
    if reply.status_code == 429:
        waited = int(reply.headers["Retry-After"])
        clock.advance(waited)
        reply = login(stranger, "admin1", TEST_PASSWORD, "192.0.2.77", via_proxy)
    assert reply.status_code == 303 and waited <= 120
    hourly = guesses_per_hour(app, clock, via_proxy)
    print(f"\n{'through the proxy, 100 addresses' if via_proxy else 'one address'}: 100 failed logins → "
          f"{counts}; admin1 from another address in their browser: signed in at once, in a new "
          f"browser after {waited} s; attacker's guesses per hour per name: {hourly}")
    assert hourly <= 60


def test_only_a_trusted_proxy_may_name_the_client():
    from serving.proxies import TrustedProxies, parse_networks

    seen = []

    def app(environ, start_response):
        seen.append((environ["REMOTE_ADDR"], environ["policybot.peer"]))
        return []
    layer = TrustedProxies(app, parse_networks("10.0.0.0/8, ::1"))
    cases = [("203.0.113.50", "198.51.100.1"),          # a direct client writing the header: ignored
             ("10.0.0.1", "6.6.6.6, 198.51.100.2"),     # via our proxy: the left entry is the client's lie
             ("10.0.0.1", "198.51.100.3, 10.0.0.7"),    # two of our proxies in a row
             ("10.0.0.1", "not-an-address, 10.0.0.9"),  # garbage stops the walk at our last proxy
             ("::1", "2001:db8::5")]
    for peer, forwarded in cases:
        layer({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}, None)
    assert [client for client, _ in seen] == ["203.0.113.50", "198.51.100.2", "198.51.100.3", "10.0.0.9",
                                              "2001:db8::5"]
    assert TrustedProxies(app, parse_networks("")).client("10.0.0.1", "1.2.3.4") == "10.0.0.1"
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        parse_networks("10.0.0.0/33")


def test_an_admin_clears_a_throttle_and_it_is_audited(world):
    app, clock = world
    from portal.testing import csrf, login_as

    target = make_staff(app, "zhao9", "signer", "区管委会")
    for n in range(8):
        login(app.test_client(), "zhao9", f"wrong-{n}", f"198.18.9.{n + 1}", via_proxy=True)
    assert login(app.test_client(), "zhao9", TEST_PASSWORD, "198.18.9.50", True).status_code == 429
    admin = app.test_client()
    login_as(admin, app, make_staff(app, "root2", "admin", "区政务公开办"))
    page = admin.get("/staff/users").get_data(as_text=True)
    assert "解除限制" in page and "失败" in page
    reply = admin.post(f"/staff/users/{target.id}/throttle", data={"csrf_token": csrf(admin)})
    assert reply.status_code == 303
    assert login(app.test_client(), "zhao9", TEST_PASSWORD, "198.18.9.50", True).status_code == 303
    from interpretations import audit
    with app.extensions["policybot"].db.read() as conn:
        assert any(e["action"] == "clear login throttle" and "zhao9" in e["comment"]
                   for e in audit.entries(conn))
