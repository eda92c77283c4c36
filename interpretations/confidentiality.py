"""保密审查: find personal data and secrets in text before it is published.

What is flagged (SECURITY.md): 居民身份证号 (18 digits with the GB 11643 check digit, and the
15-digit legacy form), mobile numbers, landlines, bank card numbers, e-mail addresses,
classification markings and internal-use notes, internal IP addresses and key-like strings.
Text is normalised first (NFKC turns full-width digits and hyphens into ASCII; digits split
by up to two spaces, hyphens, dashes or line breaks are joined), and offsets are mapped back
to the original text so the reviewer sees the finding in place. Masked forms such as
110105********002X contain no run of digits long enough to match.

What is deliberately not flagged: hotlines (12345 …), numbers that are amounts, years or
文号 parts, masked forms, the words 秘密/工作秘密/不宜公开 in running text ("防止泄露国家秘密、
工作秘密", "不宜公开的信息") as opposed to a marking (机密★1年, 【内部资料】, （征求意见稿）, a short
line that starts or ends with it, （此段暂不对外）), and an office's published contact line
(`is_office_contact`): a landline or e-mail address under a label only offices use (咨询电话,
监督电话 …), or under 联系电话 / 邮箱 on a line that names an office (区教育局…科, 街道), or
at a gov.cn address, with no private person in its sentence (本人, 家庭, 申请人 …). Mobile
numbers are always flagged: offices publish landlines. `office_contacts` lists what was
recognised, for the drafter to see.
Bank cards: Luhn-valid with an issuer prefix (62, 4, 51–55, …), or any 16–19 digits next to
银行/卡号/账号. Measured by tests/test_confidentiality.py and bench/bench_uploads.py
(recall on generated and planted numbers, findings on the real documents of the demo corpus).

The portal also scans the hidden parts of uploaded files (comments, tracked changes,
headers, footers, metadata: portal/hidden.py) with `scan_text`.

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
# Classification markings. A marking heads a document or stands in brackets or on a short
# line (机密★1年, 【内部资料】, （征求意见稿）); the same words in running text ("防止泄露国家
# 秘密、工作秘密") are not a marking.
MARKINGS = ("绝密", "机密", "秘密", "内部资料", "内部文件", "工作秘密", "征求意见稿", "内部使用",
            "不得外传", "涉密", "内部参考", "讨论稿", "送审稿", "未定稿", "草稿", "注意保密")
MARKING_LINE_MAX = 24
# Notes that a text is not meant for the public, flagged wherever they stand: a drafter's
# "（此段暂不对外）" sits inside a sentence. 不宜公开 counts only where it closes a clause
# ("本节不宜公开。"); "不宜公开的信息" in a law names a kind of information.
INTERNAL_NOTES = re.compile(
    r"内部讨论稿|内部传阅|内部掌握|仅供内部|仅限内部|(?:请勿|严禁|不得)外传|"
    r"此件(?:暂)?不(?:予)?(?:对外)?(?:公开|发布|公布)|此件依申请公开|"
    r"暂不(?:对外|向社会)?(?:公开|公布|发布|披露)|暂不对外(?![开营服办接受提供])|"
    r"不宜(?:对外|向社会)?(?:公开|公布|发布)(?=\s*(?:$|[。；;，,！!）)】\]]))")
# An office's published contact line: a label that only offices use (咨询电话, 监督电话 …), or a
# general one (联系电话, 邮箱 …) on a line that names an office; no private person in the sentence.
OFFICE_LABEL = re.compile(r"(?:咨询|监督|投诉|举报|服务|办公|值班|受理|业务|办事|查询|报名|政务)"
                          r"(?:电话|热线)|热线|传真")
CONTACT_LABEL = re.compile(r"电话|邮箱|电子邮件|联系方式|E-?mail", re.I)
OFFICE_WORDS = re.compile(r"局|委|办|厅|部|科|处|室|中心|街|镇|乡|站|所|院|窗口|政府|社区|大厅|平台|热线|"
                          r"服务台|公司|银行|学校|馆")
NOT_OFFICE_WORDS = re.compile(r"办理|办事|办法|处理|部分|全部|内部|所有|所在|所得|场所|以及")
PRIVATE_WORDS = re.compile(r"本人|个人|私人|家庭|家中|家里|住宅|宅电|申请人|当事人|户主|身份证|"
                           r"住址|紧急联系人|我的|我家|配偶|亲属")
OFFICIAL_MAIL_DOMAINS = (".gov.cn", "@gov.cn")
CONTACT_LOOKBACK = 80  # characters of the line before a number in which the office is named
CARD_CONTEXT = ("银行", "卡号", "账号", "帐号", "开户行", "银行卡", "账户", "帐户", "户名")
# Issuer prefixes of cards in use in China: UnionPay 62, Visa 4, Mastercard 51–55 and 2221–2720,
# JCB 35, American Express 34/37 (15 digits, not matched), and domestic debit 60/9.
CARD_PREFIXES = ("62", "4", "51", "52", "53", "54", "55", "35", "60", "9")

# Digits may be split by up to two separators (space, hyphen, dot-like marks, line break):
# "110105 1949 1231 002X", "139-1234-5678", "6222 0212 3456 7890 128".
_SEP = r"[ \-\n\r\t\u00a0\u3000\u2010-\u2015\u00b7]{0,2}"
_DIGITS = lambda n: _SEP.join([r"\d"] * n)  # noqa: E731 - a pattern builder, used below
# Bounded by non-digits only: an ID number glued to letters ("身份证ID110105…") still counts.
ID18 = re.compile(r"(?<!\d)" + _DIGITS(17) + _SEP + r"[\dXx](?!\d)")
ID15 = re.compile(r"(?<!\d)" + _DIGITS(15) + r"(?!\d)")
MOBILE = re.compile(r"(?<![\d])(?:(?:\+|00)?86[ \-]?|[(（]\+?86[)）] ?)?1[3-9]"
                    + _SEP + _DIGITS(9) + r"(?!\d)")
LANDLINE = re.compile(r"(?<![\d\-])(?:[(（]?0\d{2,3}[)）]?[ \-]?)?[2-8]\d{6,7}(?:[-转]\d{1,5})?(?![\d\-])")
CARD = re.compile(r"(?<!\d)(?:\d" + _SEP + r"){15,18}\d(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PRIVATE_IP = re.compile(r"(?<![\d.])(?:10(?:\.\d{1,3}){3}|192\.168(?:\.\d{1,3}){2}|"
                        r"172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2})(?![\d.])")
KEYLIKE = re.compile(r"(?i)(?:secret|password|passwd|token|api[_-]?key|access[_-]?key|密码|口令|密钥)"
                     r"\s*[:=：]\s*[A-Za-z0-9+/=_\-!@#$%^&*]{6,}")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


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
    """Every finding in `text`, with offsets into `text` itself, in reading order; an
    office's published contact line is not one (`office_contacts` lists those)."""
    return [f for f in _scan(text) if not is_office_contact(text, f)]


def office_contacts(text: str) -> list[Finding]:
    """Landlines and e-mail addresses recognised as an office's published contact lines."""
    return [f for f in _scan(text) if is_office_contact(text, f)]


def _scan(text: str) -> list[Finding]:
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
    """In priority order: a span found by an earlier category is not reported again."""
    yield "email", _spans(EMAIL, normal)
    yield "id_number", [s for s in _spans(ID18, normal) if _valid_id18(_digits(normal, s))]
    yield "bank_card", [s for s in _spans(CARD, normal) if _looks_like_card(normal, s)]
    yield "mobile", _spans(MOBILE, normal)
    # The legacy 15-digit form has no check digit: after cards, so that it never claims
    # the tail of a grouped card number.
    yield "id_number", [s for s in _spans(ID15, normal) if _plausible_id15(_digits(normal, s))]
    yield "landline", [s for s in _spans(LANDLINE, normal) if _private_landline(normal, s)]
    yield "internal_ip", _spans(PRIVATE_IP, normal)
    yield "key", _spans(KEYLIKE, normal) + _spans(PRIVATE_KEY, normal)
    yield "marking", _spans(INTERNAL_NOTES, normal) + _marking_spans(normal)


def _spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _marking_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for word in MARKINGS:
        spans += [(m.start(), m.end()) for m in re.finditer(re.escape(word), text)
                  if _marking_position(text, m.start(), m.end())]
    return spans


def _marking_position(text: str, start: int, end: int) -> bool:
    """A marking stands alone: on a short line, in brackets, or followed by ★."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start:line_end if line_end >= 0 else len(text)].strip()
    before = text[max(line_start, start - 1):start]
    after = text[end:end + 2]
    if "★" in after or "☆" in after:
        return True
    if before in ("（", "(", "【", "[", "〔") and after[:1] in ("）", ")", "】", "]", "〕"):
        return True
    word = text[start:end]
    at_edge = line.startswith(word) or line.endswith(word)
    mention = re.search("国家秘密|商业秘密|保守|泄露|保密", line)
    return at_edge and len(line) <= MARKING_LINE_MAX and not mention


def _digits(text: str, span: tuple[int, int]) -> str:
    return re.sub(r"[^\dXx]", "", text[span[0]:span[1]]).upper()


def _valid_id18(value: str) -> bool:
    if len(value) != 18 or not _valid_birth(value[6:14]):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS, strict=True))
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
    """Luhn-valid with an issuer prefix, or any 16–19 digits next to a banking word."""
    digits = _digits(text, span)
    if not digits.isdigit():
        return False
    near = text[max(0, span[0] - 12):span[0]]
    if any(word in near for word in CARD_CONTEXT):
        return True
    return _luhn(digits) and digits.startswith(CARD_PREFIXES)


def _private_landline(text: str, span: tuple[int, int]) -> bool:
    digits = _digits(text, span)
    return not (digits[-5:] in ALLOWED_NUMBERS or digits in ALLOWED_NUMBERS or _is_year_or_amount(text, span))


def is_office_contact(text: str, finding: Finding) -> bool:
    """A landline or e-mail address an office publishes on purpose, with no private person in
    its sentence (本人, 家庭, 申请人 …): under a label only offices use (咨询电话, 监督电话,
    服务热线 …), under a general one (联系电话, 邮箱 …) on a line that names an office
    (区教育局…科, 街道, 服务中心), or any gov.cn address."""
    if finding.category not in ("landline", "email"):
        return False
    line = text[max(0, finding.start - CONTACT_LOOKBACK):finding.start].rsplit("\n", 1)[-1]
    sentence = re.split(r"[。；;]", line)[-1]
    if PRIVATE_WORDS.search(sentence):
        return False
    if finding.category == "email" and finding.matched.lower().endswith(OFFICIAL_MAIL_DOMAINS):
        return True
    if OFFICE_LABEL.search(sentence):
        return True
    return bool(CONTACT_LABEL.search(sentence)) and bool(OFFICE_WORDS.search(NOT_OFFICE_WORDS.sub("", line)))


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
