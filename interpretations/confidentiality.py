"""保密审查: find personal data and secrets in text before it is published.

What is flagged (SECURITY.md): 居民身份证号 (18 digits with the GB 11643 check digit, and the
15-digit legacy form), mobile numbers, landlines (official hotlines allowed), bank card
numbers (Luhn, or near 银行/卡号/账号), e-mail addresses, classification markings, internal
IP addresses and key-like strings. Text is normalised first (NFKC turns full-width digits
into ASCII; digits split by spaces, hyphens or line breaks are joined), and offsets are
mapped back to the original text so the reviewer sees the finding in place. Masked forms
such as 110105********002X contain no run of digits long enough to match.

Pure: no I/O.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata

from policies.model import Document

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
# Hotlines and service numbers that official documents publish on purpose.
ALLOWED_NUMBERS = {"12345", "12333", "12366", "12315", "12388", "12329", "12348", "12319",
                   "12320", "12350", "12338", "12369", "12365", "95598", "96777", "110",
                   "119", "120", "122"}
MARKINGS = ("绝密", "机密", "秘密★", "秘密 ★", "内部资料", "内部文件", "工作秘密", "征求意见稿",
            "内部使用", "不得外传", "涉密")
CARD_CONTEXT = ("银行", "卡号", "账号", "帐号", "开户行", "银行卡")

# A digit run may be split by one space, hyphen or line break between digits.
_SEP = r"[ \-\n\r\u00a0]?"
_DIGITS = lambda n: _SEP.join([r"\d"] * n)  # noqa: E731 - a pattern builder, used below
ID18 = re.compile(r"(?<![\dA-Za-z])" + _DIGITS(17) + _SEP + r"[\dXx](?![\dA-Za-z])")
ID15 = re.compile(r"(?<![\dA-Za-z])" + _DIGITS(15) + r"(?![\dA-Za-z])")
MOBILE = re.compile(r"(?<!\d)(?:\+?86[ \-]?)?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}(?!\d)")
LANDLINE = re.compile(r"(?<![\d\-])(?:0\d{2,3}[ \-]?)?[2-8]\d{6,7}(?![\d\-])")
CARD = re.compile(r"(?<!\d)(?:\d" + _SEP + r"){15,18}\d(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PRIVATE_IP = re.compile(r"(?<![\d.])(?:10(?:\.\d{1,3}){3}|192\.168(?:\.\d{1,3}){2}|"
                        r"172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2})(?![\d.])")
KEYLIKE = re.compile(r"(?i)(?:secret|password|passwd|token|api[_-]?key|密码|口令)\s*[:=：]\s*\S{6,}")


@dataclasses.dataclass(frozen=True)
class Finding:
    category: str  # id_number, mobile, landline, bank_card, email, marking, internal_ip, key
    start: int
    end: int
    matched: str

    def masked(self) -> str:
        return mask(self.matched)


def mask(value: str) -> str:
    """Keep the first 3 and last 2 characters of what was found; star the rest."""
    if len(value) <= 5:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def scan_text(text: str) -> list[Finding]:
    """Every finding in `text`, with offsets into `text` itself, in reading order."""
    normal, origin = _normalise(text)
    found: list[Finding] = []
    taken: list[tuple[int, int]] = []
    for category, matches in _candidates(normal):
        for start, end in matches:
            if any(s < end and start < e for s, e in taken):
                continue  # one finding per span: an ID number is not also a card number
            taken.append((start, end))
            o_start, o_end = origin[start], origin[end - 1] + 1
            found.append(Finding(category, o_start, o_end, text[o_start:o_end]))
    return sorted(found, key=lambda f: f.start)


def scan_document(doc: Document) -> list[tuple[str, Finding]]:
    """Scan every part of a document: title, 文号, body, FAQ pairs, sections, media titles."""
    results = []
    for part, text in document_parts(doc):
        results += [(part, f) for f in scan_text(text)]
    return results


def document_parts(doc: Document) -> list[tuple[str, str]]:
    parts = [("title", doc.title), ("text", doc.text), ("doc_number", doc.doc_number or ""),
             ("issuing_body", doc.issuing_body or "")]
    for number, pair in enumerate(doc.faq, 1):
        parts += [(f"faq {number} q", pair["q"]), (f"faq {number} a", pair["a"])]
    parts += [(f"section {s['name']}", s["text"]) for s in doc.sections]
    parts += [(f"media {i}", f"{m.get('title') or ''} {m['url']}") for i, m in enumerate(doc.media, 1)]
    return [(part, text) for part, text in parts if text]


def masked_text(text: str, found: list[Finding] | None = None) -> str:
    """`text` with every finding masked in place (masking keeps lengths, so offsets hold)."""
    found = scan_text(text) if found is None else found
    out = list(text)
    for f in found:
        out[f.start:f.end] = list(f.masked())
    return "".join(out)


def context_of(text: str, finding: Finding, width: int = 30) -> str:
    """The text around a finding for the reviewer's list, with every finding in it masked."""
    safe = masked_text(text)
    before = safe[max(0, finding.start - width):finding.start]
    after = safe[finding.end:finding.end + width]
    return f"{before}【{finding.masked()}】{after}"


def _candidates(normal: str):
    yield "marking", _marking_spans(normal)
    yield "key", _spans(KEYLIKE, normal)
    yield "email", _spans(EMAIL, normal)
    yield "id_number", [s for s in _spans(ID18, normal) if _valid_id18(_digits(normal, s))]
    yield "id_number", [s for s in _spans(ID15, normal) if _plausible_id15(_digits(normal, s))]
    yield "bank_card", [s for s in _spans(CARD, normal) if _looks_like_card(normal, s)]
    yield "mobile", _spans(MOBILE, normal)
    yield "landline", [s for s in _spans(LANDLINE, normal) if _digits(normal, s)[-5:] not in ALLOWED_NUMBERS
                       and _digits(normal, s) not in ALLOWED_NUMBERS and not _is_year_or_amount(normal, s)]
    yield "internal_ip", _spans(PRIVATE_IP, normal)


def _spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _marking_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for word in MARKINGS:
        spans += [(m.start(), m.end()) for m in re.finditer(re.escape(word), text)]
    return spans


def _digits(text: str, span: tuple[int, int]) -> str:
    return re.sub(r"[^\dXx]", "", text[span[0]:span[1]]).upper()


def _valid_id18(value: str) -> bool:
    if len(value) != 18 or not _valid_birth(value[6:14]):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS))
    return ID_CHECK[total % 11] == value[17]


def _plausible_id15(value: str) -> bool:
    return len(value) == 15 and _valid_birth("19" + value[6:12])


def _valid_birth(yyyymmdd: str) -> bool:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


def _looks_like_card(text: str, span: tuple[int, int]) -> bool:
    digits = _digits(text, span)
    if not digits.isdigit():
        return False
    near = text[max(0, span[0] - 12):span[0]]
    return _luhn(digits) or any(word in near for word in CARD_CONTEXT)


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_year_or_amount(text: str, span: tuple[int, int]) -> bool:
    """A 7–8 digit number followed by 元/年/号/人 or inside a 文号 is not a phone number."""
    after = text[span[1]:span[1] + 1]
    before = text[max(0, span[0] - 1):span[0]]
    return after in ("元", "年", "号", "人", "万", "亿", "户", "家", "件", "平", "㎡", "%", "."
                     ) or before in ("〔", "第", "￥", "¥", ".")


def _normalise(text: str) -> tuple[str, list[int]]:
    """NFKC per character, keeping for each output character the index it came from."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for c in unicodedata.normalize("NFKC", char):
            out.append(c)
            origin.append(index)
    return "".join(out), origin
