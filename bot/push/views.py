"""Web pages of targeted push.

- `h5`: the subscriber's profile form, reached from the bot by a signed, expiring link
  (bot/push/links.py). No login; the subscriber is whoever the signature names, and nothing
  in the form can name another one.
The staff pages of push (counts, recipients, the sender's state) are the portal's
(portal/views_push.py).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

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
