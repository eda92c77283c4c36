"""The staff simulator: a page that looks like a WeChat chat, with the account's menu.

Every message goes the way WeChat sends it: built as WeChat's XML, signed with the Token and
encrypted with the EncodingAESKey, then checked by the callback (timestamp, signature,
decryption, replay, once-only processing) before the bot sees it. With an official account
configured the request goes to /wechat through the app itself; without one, the simulator
signs with secrets made up for this process (bot.callback_client.throwaway_config) and hands the
request to a callback that knows only those, so /wechat itself stays disabled. Nothing here
reaches the bot another way.
"""
from __future__ import annotations

import hashlib
import time

from flask import current_app, jsonify, render_template, request, session

from bot.callback_client import WeChatSender, event_xml, media_xml, text_xml, voice_xml
from bot.simulated import PREFIX
from portal.auth import services, staff_required
from portal.blueprint import bp

MAX_TEXT = 600
KINDS = ("text", "voice", "image", "location", "link", "subscribe", "unsubscribe", "click")
SHOWN = {"transfer_customer_service": "（已转接人工客服）"}


@bp.get("/simulator/")
@staff_required()
def simulator_page():
    svc = services()
    menu = svc.menu
    return render_template("portal/simulator.html", configured=svc.callback is not None,
                           safe_mode=_callback(svc).config.safe_mode,
                           menu=menu.wechat_payload["button"] if menu else [],
                           public_url=current_app.config["PUBLIC_URL"].rstrip("/"))


@bp.post("/simulator/send")
@staff_required()
def simulator_send():
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or data.get("kind", "text") not in KINDS:
        return jsonify(error="请求格式不对"), 400
    kind, text = data.get("kind", "text"), str(data.get("text") or "")[:MAX_TEXT]
    svc = services()
    sender = WeChatSender(_callback(svc).config)
    args, body = sender.signed_request(_xml(kind, _simulator_openid(), text))
    status, raw = _deliver(svc, args, body)
    fields = sender.reply_fields(raw) if status == 200 else {}
    return jsonify(status=status, reply=_shown(fields, raw), request_xml=body.decode("utf-8"),
                   reply_xml=raw, encrypted=sender.config.safe_mode)


def _callback(svc):
    """The configured account's callback, or the simulator's own (made up secrets)."""
    return svc.callback or svc.simulator_callback


def _deliver(svc, args: dict, body: bytes) -> tuple[int, str]:
    if svc.callback is None:
        result = svc.simulator_callback.receive(args, body)
        return result.status, result.body
    with current_app.test_client() as client:  # the real /wechat view, all checks included
        response = client.post("/wechat", query_string=args, data=body, content_type="text/xml")
    return response.status_code, response.get_data(as_text=True)


def _simulator_openid() -> str:
    """One simulated user per browser session (never a real openid)."""
    seed = session.setdefault("simulator_user", hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:16])
    return PREFIX + seed  # flagged as simulated wherever it is stored (bot.simulated)


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


def _shown(fields: dict, raw: str) -> str:
    if fields.get("MsgType") in SHOWN:
        return SHOWN[fields["MsgType"]]
    if not fields:
        return ("（4 秒内未答完：已按微信规则先回复空答复，答复稍后送达）" if raw.strip() == "success"
                else "（无答复）")
    return fields.get("Content", "")

