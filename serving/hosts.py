"""Staff pages on a host name of their own (POLICYBOT_STAFF_HOST).

By default the staff portal and the public H5 pages share one origin, so a flaw in a public
page would run with the staff's cookies in reach. With STAFF_HOST set (e.g.
`staff.zwgk.example.gov.cn`, pointed at the same server), `/staff/…` answers only on that host
(404 elsewhere) and every other page there redirects to PUBLIC_URL. The session cookie has no
Domain attribute, so browsers send it to the staff host alone.
"""
from __future__ import annotations

from urllib.parse import quote

NOT_HERE = "404 Not Found"
ALWAYS = ("/healthz",)


class StaffHost:
    def __init__(self, app, staff_host: str, public_url: str):
        self.app = app
        self.staff_host = staff_host.strip().lower()
        self.public_url = public_url.rstrip("/")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        staff_path = path == "/staff" or path.startswith("/staff/")
        here = self._is_staff_host(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""))
        if staff_path and not here:
            start_response(NOT_HERE, [("Content-Type", "text/plain; charset=utf-8")])
            return ["工作人员页面不在这个地址提供。".encode()]
        if here and not staff_path and path not in ALWAYS:
            query = environ.get("QUERY_STRING", "")
            location = self.public_url + quote(path) + (f"?{query}" if query else "")
            start_response("302 Found", [("Location", location),
                                         ("Content-Type", "text/plain; charset=utf-8")])
            return [b""]
        return self.app(environ, start_response)

    def _is_staff_host(self, host: str) -> bool:
        host = host.strip().lower()
        if ":" not in self.staff_host and not host.endswith("]"):
            host = host.rsplit(":", 1)[0]  # no port configured: any port of that name
        return host == self.staff_host
