"""Web pages of targeted push.

- `h5`: the subscriber's profile form, reached from the bot by a signed, expiring link
  (bot/push/links.py). No login; the subscriber is whoever the signature names, and nothing
  in the form can name another one.
- `staff_blueprint(guard, who)`: per release matched / sent / failed / unknown, and a way to
  decide unknown rows. The caller passes the portal's role check as `guard` (this package may
  not import the portal) and `who()` naming the signed-in member of staff.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template_string, request, url_for

from bot.push import outbox
from bot.push.links import LinkRefused, read_profile_token
from bot.subscribers import KINDS, QUALIFICATIONS, SIZE_CLASSES, STANDARD_GROUPS, ProfileError

h5 = Blueprint("push_h5", __name__)

H5_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
              "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
              "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                         "form-action 'self'; frame-ancestors 'none'"}

PROFILE_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>我的推送资料</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:auto;padding:1em">
<h1>我的推送资料</h1>
{% if message %}<p role="status">{{ message }}</p>{% endif %}
{% if error %}<p role="alert" style="color:#b00">{{ error }}</p>{% endif %}
<form method="post" action="{{ url_for('push_h5.profile_save') }}">
<input type="hidden" name="t" value="{{ token }}">
<p>身份：{% for k, label in kinds %}<label><input type="radio" name="kind" value="{{ k }}"
 {% if profile.kind == k %}checked{% endif %}> {{ label }}</label> {% endfor %}</p>
<p><label>所在地区 <input name="region" value="{{ profile.region or '' }}" maxlength="200"></label></p>
<fieldset><legend>所属人群</legend>{% for g in groups %}<label><input type="checkbox" name="groups"
 value="{{ g }}" {% if g in profile.groups %}checked{% endif %}> {{ g }}</label> {% endfor %}</fieldset>
<fieldset><legend>企业信息（企业填写）</legend>
<p><label>企业名称 <input name="name" value="{{ profile.name or '' }}" maxlength="200"></label></p>
<p><label>行业 <input name="industry" value="{{ profile.industry or '' }}" maxlength="100"></label></p>
<p>规模：{% for s in sizes %}<label><input type="radio" name="size_class" value="{{ s }}"
 {% if profile.size_class == s %}checked{% endif %}> {{ s }}</label> {% endfor %}</p>
<p>资质：{% for q in qualifications %}<label><input type="checkbox" name="qualifications" value="{{ q }}"
 {% if q in profile.qualifications %}checked{% endif %}> {{ q }}</label> {% endfor %}</p></fieldset>
<p><label><input type="checkbox" name="consent" value="1" {% if profile.consent %}checked{% endif %}>
 我同意根据以上资料接收政策推送（可随时取消）</label></p>
<p>已订阅：{{ profile.subscriptions|join('、') or '无' }}（在公众号中发送“订阅 主题”或“退订 主题”修改）</p>
<button type="submit">保存</button></form></body></html>"""

REFUSED_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>无法打开</title></head>
<body><p>{{ reason }}</p></body></html>"""


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
    response = current_app.response_class(render_template_string(REFUSED_PAGE, reason=reason), 403)
    response.headers.update(H5_HEADERS)
    return response


def _page(token: str, profile: dict, message: str = "", error: str = "", status: int = 200):
    html = render_template_string(
        PROFILE_PAGE, token=token, profile=profile, message=message, error=error,
        kinds=list(zip(KINDS, ("居民个人", "企业"))), groups=STANDARD_GROUPS[:-1],
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

STAFF_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>定向推送</title></head>
<body><h1>定向推送</h1>
{% if paused %}<p role="alert">已暂停（45009 当日额度用尽，未自动清零）：{% for api, until in paused.items() %}{{ api }} 至 {{ until }} {% endfor %}</p>{% endif %}
<table border="1"><tr><th>发布</th><th>匹配</th><th>待发</th><th>发送中</th><th>已发</th><th>失败</th><th>未知</th><th>已取消</th></tr>
{% for s in stats %}<tr><td><a href="{{ url_for('push_staff.release', release_id=s.release_id) }}">{{ s.release_id }}</a></td>
<td>{{ s.matched }}</td><td>{{ s.pending }}</td><td>{{ s.sending }}</td><td>{{ s.sent }}</td><td>{{ s.failed }}</td><td>{{ s.unknown }}</td><td>{{ s.cancelled }}</td></tr>{% endfor %}
</table>
{% if unknown is not none %}<h2>发布 {{ release_id }}：状态未知的推送</h2>
<p>发送时中断或超时，微信可能已送达。请核对后决定。</p>
<table border="1"><tr><th>#</th><th>订阅者</th><th>渠道</th><th>尝试</th><th>原因</th><th>决定</th></tr>
{% for r in unknown %}<tr><td>{{ r.id }}</td><td>{{ r.subscriber_id }}</td><td>{{ r.channel }}</td><td>{{ r.attempts }}</td><td>{{ r.error }}</td>
<td><form method="post" action="{{ url_for('push_staff.decide', row_id=r.id) }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token() if csrf_token is defined else '' }}">
<button name="decision" value="sent">已送达</button><button name="decision" value="failed">未送达</button>
<button name="decision" value="resend">重新发送</button></form></td></tr>{% endfor %}</table>{% endif %}
</body></html>"""


def staff_blueprint(guard, who) -> Blueprint:
    staff = Blueprint("push_staff", __name__, url_prefix="/staff/push")

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
    return render_template_string(STAFF_PAGE, stats=stats, unknown=unknown, release_id=release_id,
                                  paused=paused_apis(db))
