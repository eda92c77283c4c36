"""Untrusted XML in, well-formed XML out (SECURITY.md items 1, 3 and 7).

`parse_flat_xml` accepts only what WeChat sends: one <xml> root of simple elements (a few
nested ones such as ScanCodeInfo are flattened). Any DTD is refused before the parser sees
it, so entity expansion and external entities cannot happen whatever the parser version.
Every failure is one exception type, `BadXml`, which the callback turns into 400.

`render_text_reply` escapes what wechatpy does not: `]]>` inside CDATA and characters XML 1.0
forbids (\\x00, \\x0b … from Word files), so WeChat never sees a broken reply.
"""
from __future__ import annotations

import re
import xml.parsers.expat

import xmltodict

MAX_DEPTH = 4
MAX_FIELDS = 64
MAX_FIELD_CHARS = 16 * 1024
# Characters XML 1.0 forbids, and lone surrogates (cannot be encoded as UTF-8).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


_CDATA = re.compile(r"<!\[CDATA\[.*?\]\]>", re.DOTALL)


class BadXml(ValueError):
    """A body that is not a WeChat message; never raised for anything else."""


def parse_flat_xml(body: bytes) -> dict[str, str]:
    """The fields of a WeChat <xml> message as strings; BadXml for anything else."""
    text = _decoded(body)
    if "<!" in _CDATA.sub("", text):
        raise BadXml("DTD, comment or declaration refused")
    try:
        tree = xmltodict.parse(text, disable_entities=True)
    except (xml.parsers.expat.ExpatError, ValueError, TypeError, KeyError) as error:
        raise BadXml(f"not well-formed: {type(error).__name__}") from None
    root = tree.get("xml") if isinstance(tree, dict) else None
    if not isinstance(root, dict):
        raise BadXml("the root element must be <xml> with fields")
    fields: dict[str, str] = {}
    _flatten(root, fields, depth=1)
    return fields


def _decoded(body: bytes) -> str:
    if not body or not body.strip():
        raise BadXml("empty body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadXml("body is not UTF-8") from None


def _flatten(node: dict, fields: dict[str, str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BadXml("nested too deeply")
    for name, value in node.items():
        if name.startswith("@") or len(fields) >= MAX_FIELDS:
            raise BadXml("attributes or too many fields")
        if isinstance(value, dict):
            _flatten(value, fields, depth + 1)
        elif value is None or isinstance(value, str):
            fields.setdefault(name, _checked_field(value or ""))
        else:
            raise BadXml(f"repeated element {name!r}")


def _checked_field(value: str) -> str:
    if len(value) > MAX_FIELD_CHARS:
        raise BadXml("field too long")
    return value


def clean_text(text: str) -> str:
    """Text safe to place in XML: forbidden characters removed, line ends normalised."""
    return _FORBIDDEN.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def cdata(text: str) -> str:
    """A CDATA section that holds `text` exactly, even when it contains `]]>`."""
    return "<![CDATA[" + clean_text(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(to_user: str, from_user: str, content: str, create_time: int) -> str:
    return ("<xml>"
            f"<ToUserName>{cdata(to_user)}</ToUserName>"
            f"<FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(create_time)}</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{cdata(content)}</Content>"
            "</xml>")


def render_transfer_reply(to_user: str, from_user: str, create_time: int) -> str:
    """转人工: hand the conversation to the customer-service staff (WeChat 多客服)."""
    return ("<xml>"
            f"<ToUserName>{cdata(to_user)}</ToUserName>"
            f"<FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(create_time)}</CreateTime>"
            "<MsgType><![CDATA[transfer_customer_service]]></MsgType>"
            "</xml>")
