"""POLICYBOT_STAFF_HOST: the staff pages on a host name of their own, the public pages on
PUBLIC_URL, and a session cookie that only the staff host receives."""
from __future__ import annotations

import re

from portal.testing import TEST_PASSWORD, app_config, make_staff


def test_staff_pages_only_on_the_staff_host(tmp_path):
    from server import create_app, start

    app = start(create_app({**app_config(tmp_path / "i"), "STAFF_HOST": "staff.zwgk.test",
                            "PUBLIC_URL": "https://zwgk.test"}))
    try:
        make_staff(app, "zhanghost", "drafter", "区人社局")
        public, staff = app.test_client(), app.test_client()
        assert public.get("/staff/login", base_url="https://zwgk.test").status_code == 404
        assert public.get("/catalogue", base_url="https://zwgk.test").status_code == 200
        moved = staff.get("/catalogue?topic=就业", base_url="https://staff.zwgk.test:8443")
        assert moved.status_code == 302 and moved.headers["Location"].startswith("https://zwgk.test/catalogue?topic=")
        page = staff.get("/staff/login", base_url="https://staff.zwgk.test")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        reply = staff.post("/staff/login", base_url="https://staff.zwgk.test",
                           data={"username": "zhanghost", "password": TEST_PASSWORD, "csrf_token": token})
        assert reply.status_code == 303
        session_cookie = next(c for c in reply.headers.getlist("Set-Cookie") if c.startswith("session="))
        assert "Domain" not in session_cookie and "Secure" in session_cookie
        assert staff.get("/staff/", base_url="https://staff.zwgk.test").status_code == 200
        assert staff.get("/healthz", base_url="https://staff.zwgk.test").status_code == 200
    finally:
        app.extensions["policybot"].db.dispose()
