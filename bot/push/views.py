"""Web pages of targeted push.

- `h5`: the subscriber's profile form, reached from the bot by a signed, expiring link
  (bot/push/links.py). No login; the subscriber is whoever the signature names, and nothing
  in the form can name another one.
- `staff_blueprint(guard, who)`: per release matched / sent / failed / unknown, and a way to
  decide unknown rows. The caller passes the portal's role check as `guard` (this package may
  not import the portal) and `who()` naming the signed-in member of staff.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from bot.push import outbox
from bot.push.links import LinkRefused, read_profile_token
from bot.subscribers import KINDS, QUALIFICATIONS, SIZE_CLASSES, STANDARD_GROUPS, ProfileError

h5 = Blueprint("push_h5", __name__, template_folder="templates")

H5_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
              "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
              "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                                         "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}


def _svc():
    return current_app.extensions["policybot"]


def _max_age() -> int:
    return int(current_app.config.get("PUSH_PROFILE_LINK_MAX_AGE", 30 * 60))


def _subscriber_from(token: str) -> int:
    try:
        return read_profile_token(current_app.config["SECRET_KEY"], token, _max_age())
    except LinkRefused as refused:
        abort(_refused(str(refused)))


def _refused(reason: str):
    response = current_app.response_class(render_template("push/refused.html", reason=reason), 403)
    response.headers.update(H5_HEADERS)
    return response


def _page(token: str, profile: dict, message: str = "", error: str = "", status: int = 200):
    html = render_template(
        "push/profile.html", token=token, profile=profile, message=message, error=error,
        kinds=list(zip(KINDS, ("居民个人", "企业"), strict=True)), groups=STANDARD_GROUPS,
        sizes=SIZE_CLASSES, qualifications=QUALIFICATIONS)
    response = current_app.response_class(html, status)
    response.headers.update(H5_HEADERS)
    return response


@h5.get("/h5/profile")
def profile_form():
    token = request.args.get("t", "")
    subscriber_id = _subscriber_from(token)
    profile = _svc().subscribers.profile_by_id(subscriber_id)
    if profile is None:
        return _refused("该用户资料已删除。")
    return _page(token, profile)


@h5.post("/h5/profile")
def profile_save():
    token = request.form.get("t", "")
    subscriber_id = _subscriber_from(token)  # the only source of whose profile this is
    subs = _svc().subscribers
    if subs.profile_by_id(subscriber_id) is None:
        return _refused("该用户资料已删除。")
    try:
        profile = subs.update_profile_by_id(subscriber_id, **_form_fields(request.form))
    except ProfileError as error:
        return _page(token, subs.profile_by_id(subscriber_id), error=str(error), status=400)
    return _page(token, profile, message="已保存。")


def _form_fields(form) -> dict:
    fields = {"kind": form.get("kind") or "resident", "region": form.get("region"),
              "groups": form.getlist("groups"), "consent": form.get("consent") == "1"}
    if fields["kind"] == "enterprise":
        fields.update(name=form.get("name"), industry=form.get("industry"),
                      size_class=form.get("size_class") or None,
                      qualifications=form.getlist("qualifications"))
    return fields


# -- staff -------------------------------------------------------------------------------------


def staff_blueprint(guard, who) -> Blueprint:
    staff = Blueprint("push_staff", __name__, url_prefix="/staff/push", template_folder="templates")

    @staff.get("")
    @guard
    def overview():
        return _staff_page(None)

    @staff.get("/releases/<int:release_id>")
    @guard
    def release(release_id: int):
        return _staff_page(release_id)

    @staff.post("/rows/<int:row_id>/decide")
    @guard
    def decide(row_id: int):
        try:
            outbox.decide_unknown(_svc().db, row_id, request.form.get("decision", ""), who())
        except ValueError as error:
            abort(400, description=str(error))
        return redirect(request.referrer or url_for("push_staff.overview"))

    return staff


def _staff_page(release_id: int | None):
    from bot.push.sender import paused_apis

    db = _svc().db
    stats = outbox.all_release_stats(db)
    unknown = outbox.unknown_rows(db, release_id) if release_id is not None else None
    return render_template("push/staff.html", stats=stats, unknown=unknown, release_id=release_id,
                                  paused=paused_apis(db))
