"""The one navigation of every staff page (portal, reports, push, simulator, audit).

Each entry names an endpoint; it is shown to a member of staff only when that view exists in
this app and its `staff_required` roles admit them, so the menu cannot offer what the server
would refuse, whatever module the view lives in.
"""
from __future__ import annotations

from flask import current_app, request, url_for

from portal.auth import current_staff
from portal.blueprint import bp

# (label, endpoint); order as on the top bar.
ENTRIES = (
    ("概览", "portal.dashboard"),
    ("发布", "portal.releases_page"),
    ("上传", "portal.uploads_page"),
    ("即将到期", "portal.expiring_page"),
    ("舆情与回应", "insights.dashboard"),
    ("定向推送", "portal.push_overview"),
    ("公众号模拟器", "portal.simulator_page"),
    ("审计", "portal.audit_page"),
    ("账号", "portal.users_page"),
)
# Pages that belong to a section without being its entry point.
SECTION_OF = {"/staff/supplements/": "portal.releases_page"}


def may_open(endpoint: str) -> bool:
    """Does the signed-in member of staff reach this staff view?"""
    me, view = current_staff(), current_app.view_functions.get(endpoint)
    roles = getattr(view, "staff_roles", None)
    return me is not None and roles is not None and (not roles or me.role in roles)


@bp.app_template_global("staff_nav")
def staff_nav() -> list[dict]:
    """The entries this member of staff may open: label, url and whether it is the current."""
    shown = [(name, endpoint, url_for(endpoint)) for name, endpoint in ENTRIES if may_open(endpoint)]
    current = _current_section(shown)
    return [{"label": name, "url": url, "current": endpoint == current} for name, endpoint, url in shown]


def _current_section(shown) -> str | None:
    path = request.path
    for prefix, endpoint in SECTION_OF.items():
        if path.startswith(prefix):
            return endpoint
    matches = [(len(url), endpoint) for _, endpoint, url in shown
               if path == url or (url != "/staff/" and path.startswith(url.rstrip("/") + "/"))]
    return max(matches)[1] if matches else None
