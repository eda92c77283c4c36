"""Signatures and AES for the callback, on wechatpy's crypto (SECURITY.md items 4 and 5).

Every signature is compared in constant time. In safe mode the message signature covers the
Encrypt field, and the plaintext inside is decrypted with the current EncodingAESKey, else
the previous one (key rotation: WeChat may still use the old key for a while).
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from bot.config import WeChatConfig


class Forbidden(Exception):
    """Authentication failed: the callback answers 403."""


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(expected: str, given: str | None) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), (given or "").encode("utf-8", "replace"))


class CallbackCrypto:
    def __init__(self, config: WeChatConfig):
        self.config = config
        keys = [config.aes_key, config.aes_key_previous]
        self._keys = [_key_bytes(k) for k in keys if k]

    def check_url_signature(self, signature: str | None, timestamp: str, nonce: str) -> None:
        if not signature_matches(sha1_signature(self.config.token, timestamp, nonce), signature):
            raise Forbidden("bad signature")

    def open_encrypted(self, encrypt: str, msg_signature: str | None, timestamp: str,
                       nonce: str) -> bytes:
        """The decrypted message XML; Forbidden when the signature or the key does not fit."""
        expected = sha1_signature(self.config.token, timestamp, nonce, encrypt)
        if not signature_matches(expected, msg_signature):
            raise Forbidden("bad msg_signature")
        for key in self._keys:
            plain = _decrypt(key, encrypt, self.config.appid)
            if plain is not None:
                return plain
        raise Forbidden("cannot decrypt with the current or previous key")

    def seal(self, reply_xml: str, timestamp: str, nonce: str) -> str:
        """The encrypted reply envelope, with the current key."""
        encrypt = PrpCrypto(self._keys[0]).encrypt(reply_xml, self.config.appid).decode("ascii")
        signature = sha1_signature(self.config.token, timestamp, nonce, encrypt)
        return ("<xml>"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
                f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>"
                f"<TimeStamp>{timestamp}</TimeStamp>"
                f"<Nonce><![CDATA[{nonce}]]></Nonce>"
                "</xml>")


def _key_bytes(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def _decrypt(key: bytes, encrypt: str, appid: str) -> bytes | None:
    try:
        text = PrpCrypto(key).decrypt(encrypt, appid)
    except InvalidAppIdException:
        return None
    except Exception:  # bad base64, padding, length, UTF-8: wechatpy raises all kinds
        return None
    return text.encode("utf-8") if isinstance(text, str) else text
