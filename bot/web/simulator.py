"""The staff simulator: a page that looks like a WeChat chat. Its server side builds the
request WeChat would send — signed with the configured Token and, in safe mode, encrypted
with the configured EncodingAESKey — and passes it to /wechat through the app itself, where
it meets every check a real request meets. It grants nothing /wechat does not check itself.

Access: staff login when the portal is installed (commands/bot.py wraps these views with
portal.auth.staff_required; POSTs then also need the portal's CSRF token); without the
portal, only requests from loopback (or in TESTING).
"""
from __future__ import annotations

import hashlib
import time

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from bot.sender import ACCOUNT_ID, WeChatSender, event_xml, media_xml, text_xml, voice_xml
from bot.service import Outcome

bp = Blueprint("simulator", __name__, template_folder="templates", url_prefix="/staff/simulator")
MAX_TEXT = 600
KINDS = ("text", "voice", "image", "location", "link", "subscribe", "unsubscribe", "click")
LOOPBACK = ("127.0.0.1", "::1")


@bp.before_request
def staff_or_local_only():
    gate = current_app.extensions.get("policybot.simulator_guard")
    if gate is not None and "portal" in current_app.blueprints:
        return gate()  # the portal's staff_required: None for staff, else login/401
    if current_app.testing or request.remote_addr in LOOPBACK:
        return None
    abort(403)


@bp.get("/")
def page():
    svc = current_app.extensions["policybot"]
    mode = "未配置（直接调用应答逻辑）" if svc.wechat_config is None else (
        "安全模式（加密）" if svc.wechat_config.safe_mode else "明文模式")
    return render_template("simulator/chat.html", mode=mode)


@bp.post("/send")
def send():
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or data.get("kind", "text") not in KINDS:
        return jsonify(error="bad request"), 400
    kind, text = data.get("kind", "text"), str(data.get("text") or "")[:MAX_TEXT]
    openid = _simulator_openid()
    svc = current_app.extensions["policybot"]
    if svc.wechat_config is None:
        return jsonify(_direct(svc, _fields(kind, openid, text)))
    return jsonify(_through_callback(svc, _xml(kind, openid, text)))


def _simulator_openid() -> str:
    """One simulated user per browser session or staff member (never a real openid)."""
    from flask import session

    seed = session.setdefault("simulator_user", hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:16])
    return "osim_" + seed


def _xml(kind: str, openid: str, text: str) -> str:
    msg_id = time.time_ns() // 1000
    if kind == "text":
        return text_xml(openid, text, msg_id=msg_id)
    if kind == "voice":
        return voice_xml(openid, text or None, msg_id=msg_id)
    if kind in ("image", "location", "link"):
        return media_xml(openid, kind, msg_id=msg_id)
    if kind == "click":
        return event_xml(openid, "CLICK", text, create_time=int(time.time()))
    return event_xml(openid, kind, create_time=int(time.time()))


def _through_callback(svc, xml: str) -> dict:
    sender = WeChatSender(svc.wechat_config)
    args, body = sender.signed_request(xml)
    with current_app.test_client() as client:  # the real /wechat view, all checks included
        response = client.post("/wechat", query_string=args, data=body, content_type="text/xml")
    raw = response.get_data(as_text=True)
    fields = sender.reply_fields(raw) if response.status_code == 200 else {}
    return {"status": response.status_code, "reply": _shown(fields, raw),
            "request_xml": body.decode("utf-8"), "reply_xml": raw,
            "encrypted": svc.wechat_config.safe_mode}


def _shown(fields: dict, raw: str) -> str:
    if fields.get("MsgType") == "transfer_customer_service":
        return "（已转接人工客服）"
    if not fields:
        return "（公众号回复了 success：答复稍后送达）" if raw.strip() == "success" else "（无答复）"
    return fields.get("Content", "")


def _fields(kind: str, openid: str, text: str) -> dict:
    fields = {"ToUserName": ACCOUNT_ID, "FromUserName": openid, "CreateTime": str(int(time.time())),
              "MsgType": "event" if kind in ("subscribe", "unsubscribe", "click") else kind,
              "MsgId": str(time.time_ns() // 1000)}
    if kind == "text":
        fields["Content"] = text
    if kind == "voice":
        fields["Recognition"] = text
    if fields["MsgType"] == "event":
        fields.update(Event="CLICK" if kind == "click" else kind, EventKey=text)
    return fields


def _direct(svc, fields: dict) -> dict:
    """No WeChat secrets configured: /wechat is disabled, so the bot core is called directly."""
    outcome: Outcome = svc.bot.handle(fields)
    reply = {"transfer": "（已转接人工客服）", "success": "（无答复）"}.get(outcome.kind, outcome.text)
    return {"status": 200, "reply": reply, "request_xml": "", "reply_xml": "", "encrypted": False}
