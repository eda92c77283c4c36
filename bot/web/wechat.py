"""/wechat: the WeChat callback endpoint (GET verification, POST messages). All decisions are
in bot.callback; this view caps the body and maps the result to an HTTP response."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot.callback import MAX_BODY_BYTES
from bot.web.queueing import HEADER, queued_seconds

bp = Blueprint("wechat", __name__)
log = logging.getLogger("policybot.bot")
DISABLED = "WeChat callback disabled: set POLICYBOT_WECHAT_TOKEN, _APPID, _APPSECRET (and _AES_KEY)"


@bp.route("/wechat", methods=["GET", "POST"])
def wechat():
    callback = current_app.extensions["policybot"].callback
    if callback is None:
        return Response(DISABLED, 503, content_type="text/plain; charset=utf-8")
    try:
        result = callback.verify(request.args) if request.method == "GET" else _receive(callback)
    except RequestEntityTooLarge:
        return Response("request body too large", 413, content_type="text/plain; charset=utf-8")
    except Exception:  # never a 500 page for the callback
        log.exception("callback view failed")
        return Response("bad request", 400, content_type="text/plain; charset=utf-8")
    return Response(result.body, result.status, content_type=result.content_type)


def _receive(callback):
    request.max_content_length = MAX_BODY_BYTES  # SECURITY.md item 2: 413 above 64 KiB
    body = request.get_data(cache=False)
    return callback.receive(request.args, body,
                            queued=queued_seconds(request.headers.get(HEADER), time.time()))
