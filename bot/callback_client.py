"""Build and send WeChat callback requests exactly as WeChat does: signed with the Token and,
in safe mode, encrypted with the EncodingAESKey. Used by the staff simulator and by tests.

    sender = WeChatSender.from_app(app)
    resp = sender.post(client, text_xml("o_user1", "失业保险金怎么领？", msg_id=1))
    sender.reply_text(resp)
"""
from __future__ import annotations

import base64
import secrets
import string
import time

from wechatpy.crypto import PrpCrypto

from bot.config import WeChatConfig, load_wechat_config
from bot.crypto import sha1_signature
from bot.xmlsafe import cdata, parse_flat_xml

ACCOUNT_ID = "gh_policybot000"
# A valid configuration for tests (SECURITY.md item 6: not default, well-formed).
TEST_WECHAT_CONFIG = {
    "WECHAT_TOKEN": "Tok3nForTests9x",
    "WECHAT_APPID": "wx1234567890abcdef",
    "WECHAT_APPSECRET": "0123456789abcdef0123456789abcdef",
    "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_ACCOUNT": "subscription",
}


def throwaway_config(public_url: str, account: str = "subscription") -> WeChatConfig:
    """Secrets made up for this process alone, in safe mode: the staff simulator signs and
    encrypts with them when no official account is configured, so its messages still meet
    every check of the callback. They are never written anywhere nor sent to a browser."""
    letters = string.ascii_letters + string.digits
    return WeChatConfig(
        token="".join(secrets.choice(letters) for _ in range(32)),
        appid="wx" + secrets.token_hex(8), appsecret=secrets.token_hex(16),
        aes_key="".join(secrets.choice(letters) for _ in range(43)), aes_key_previous=None,
        account=account, api_base=None, public_url=public_url.rstrip("/"))


def _message(openid: str, msg_type: str, body: str, create_time: int | None) -> str:
    return ("<xml>"
            f"<ToUserName>{cdata(ACCOUNT_ID)}</ToUserName>"
            f"<FromUserName>{cdata(openid)}</FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
            f"<MsgType>{cdata(msg_type)}</MsgType>{body}</xml>")


def text_xml(openid: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
    msg_id = msg_id if msg_id is not None else secrets.randbelow(10**15)
    fields = f"<Content>{cdata(content)}</Content><MsgId>{msg_id}</MsgId>"
    return _message(openid, "text", fields, create_time)


def voice_xml(openid: str, recognition: str | None, msg_id: int, create_time: int | None = None) -> str:
    body = f"<MediaId>{cdata('media1')}</MediaId><Format>{cdata('amr')}</Format>"
    if recognition is not None:
        body += f"<Recognition>{cdata(recognition)}</Recognition>"
    return _message(openid, "voice", body + f"<MsgId>{msg_id}</MsgId>", create_time)


def media_xml(openid: str, msg_type: str, msg_id: int, create_time: int | None = None) -> str:
    """image, video, shortvideo, location or link, with plausible fields."""
    bodies = {
        "image": f"<PicUrl>{cdata('http://mmbiz.example/p.jpg')}</PicUrl><MediaId>{cdata('m1')}</MediaId>",
        "video": f"<MediaId>{cdata('m1')}</MediaId><ThumbMediaId>{cdata('t1')}</ThumbMediaId>",
        "shortvideo": f"<MediaId>{cdata('m1')}</MediaId><ThumbMediaId>{cdata('t1')}</ThumbMediaId>",
        "location": "<Location_X>28.68</Location_X><Location_Y>115.89</Location_Y><Scale>15</Scale>"
                    f"<Label>{cdata('南昌经开区')}</Label>",
        "link": f"<Title>{cdata('一篇文章')}</Title><Description>{cdata('摘要')}</Description>"
                f"<Url>{cdata('http://example.org/a')}</Url>",
    }
    return _message(openid, msg_type, bodies[msg_type] + f"<MsgId>{msg_id}</MsgId>", create_time)


def event_xml(openid: str, event: str, event_key: str = "", create_time: int | None = None,
              extra: str = "") -> str:
    body = f"<Event>{cdata(event)}</Event>"
    if event_key:
        body += f"<EventKey>{cdata(event_key)}</EventKey>"
    return _message(openid, "event", body + extra, create_time)


class WeChatSender:
    def __init__(self, config: WeChatConfig, path: str = "/wechat"):
        self.config = config
        self.path = path

    @classmethod
    def from_app(cls, app) -> WeChatSender:
        config = load_wechat_config(app.config)
        if config is None:
            raise ValueError("WeChat is not configured in this app")
        return cls(config)

    def signed_request(self, xml: str, *, timestamp: int | str | None = None,
                       nonce: str | None = None) -> tuple[dict[str, str], bytes]:
        """(query arguments, body) of the request WeChat would send for `xml`."""
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        args = {"timestamp": timestamp, "nonce": nonce, "openid": "masked",
                "signature": sha1_signature(self.config.token, timestamp, nonce)}
        if not self.config.safe_mode:
            return args, xml.encode("utf-8")
        encrypt = self.encrypt(xml)
        args.update(encrypt_type="aes",
                    msg_signature=sha1_signature(self.config.token, timestamp, nonce, encrypt))
        body = (f"<xml><ToUserName>{cdata(ACCOUNT_ID)}</ToUserName>"
                f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>")
        return args, body.encode("utf-8")

    def encrypt(self, xml: str, key: str | None = None) -> str:
        return PrpCrypto(self._raw_key(key)).encrypt(xml, self.config.appid).decode("ascii")

    def _raw_key(self, key: str | None = None) -> bytes:
        encoding_aes_key = key or self.config.aes_key
        if encoding_aes_key is None:
            raise ValueError("no EncodingAESKey: this account is configured in plaintext mode")
        return base64.b64decode(encoding_aes_key + "=")

    def post(self, client, xml: str, **sign):
        """POST through a Flask test client (or anything with .post(path, query_string, data))."""
        args, body = self.signed_request(xml, **sign)
        return client.post(self.path, query_string=args, data=body, content_type="text/xml")

    def reply_xml(self, body: bytes | str) -> str:
        """The reply's plaintext XML ("success" stays "success"); decrypts in safe mode."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        if text.strip() in ("success", "") or not self.config.safe_mode:
            return text
        envelope = parse_flat_xml(text.encode("utf-8"))
        expected = sha1_signature(self.config.token, envelope["TimeStamp"], envelope["Nonce"],
                                  envelope["Encrypt"])
        if expected != envelope["MsgSignature"]:
            raise ValueError("reply signature does not verify")
        return PrpCrypto(self._raw_key()).decrypt(envelope["Encrypt"], self.config.appid)

    def reply_fields(self, response) -> dict[str, str]:
        xml = self.reply_xml(response.get_data() if hasattr(response, "get_data") else response)
        if xml.strip() in ("success", ""):
            return {}
        return parse_flat_xml(xml.encode("utf-8"))

    def reply_text(self, response) -> str:
        return self.reply_fields(response).get("Content", "")
