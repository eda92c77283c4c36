"""Reading an uploaded document's own metadata and structure from its text, for the drafter
to confirm. Every suggestion says where it came from (`reasons`), in words a drafter checks.

- 发布日期: the date under the issuing body's signature (落款) — the first one in the text, so
  a 「关于印发《…》的通知」 is dated by its own signature, not by its attachment's dates (an
  attached 办法 valid until 2027-12-31 does not make the notice's date 2027-12-31). A date
  the file labels 发布日期 (web pages) comes first; without a signature, the 版记's 印发 line
  (「××办公室 2026年11月21日印发」), a 成文日期 label, or a law's 题注 (「（…通过）」). Never
  "the last date in the text".
- 施行日期 from 「自…起施行」 (「自印发之日起施行」: the 印发 date), 有效期至 from 「有效期至…」,
  「有效期自…至…」 or 「有效期N年」 counted from the 施行 date.
- An interpretation: top-level headings mapped to the five sections (一、政策背景 … 五、后续工作
  考虑, also 起草背景, 主要变化, 下一步工作 …), 问：/答： blocks and numbered questions to Q&A pairs,
  and the rest kept as the body, so that nothing is stored (and indexed) twice.

Pure: no I/O.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re

from policies.model import SECTION_NAMES
from policies.titles import normalise_title

# -- dates ---------------------------------------------------------------------------------------

_CN_DIGITS = {"〇": 0, "零": 0, "○": 0, "Ｏ": 0, "O": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"[0-9０-９]"
_CN = "〇零○Ｏ一二三四五六七八九"
DATE = (rf"(?:(?P<y>{_NUM}{{4}})\s*年\s*(?P<m>{_NUM}{{1,2}})\s*月\s*(?P<d>{_NUM}{{1,2}})\s*日"
        rf"|(?P<cy>[{_CN}]{{4}})\s*年\s*(?P<cm>[一二三四五六七八九十]{{1,2}})\s*月"
        rf"\s*(?P<cd>[一二三四五六七八九十]{{1,3}})\s*日)")
DATE_RE = re.compile(DATE)
ISO_DATE = rf"(?P<iy>{_NUM}{{4}})\s*[-./／]\s*(?P<im>{_NUM}{{1,2}})\s*[-./／]\s*(?P<id>{_NUM}{{1,2}})"
# A line that is only a date (the signature's), maybe in brackets.
DATE_LINE = re.compile(rf"^[（(]?\s*{DATE}\s*[）)]?$")
PRINTED_LINE = re.compile(rf"{DATE}\s*印发\s*$")
LABELLED_PUBLISHED = re.compile(rf"(?:发布|公布|发文)(?:日期|时间)\s*[:：]?\s*(?:{DATE}|{ISO_DATE})")
LABELLED_WRITTEN = re.compile(rf"成文(?:日期|时间)\s*[:：]?\s*(?:{DATE}|{ISO_DATE})")
PASSED_NOTE = re.compile(rf"^[（(].*?{DATE}[^）)]*(?:通过|公布|发布|修正|修订|施行)[^）)]*[）)]$")
EFFECTIVE = re.compile(rf"自\s*{DATE}\s*(?:起)?\s*(?:施行|实施|执行|生效|试行)")
EFFECTIVE_ON_ISSUE = re.compile(r"自(?:本\S{0,4})?(?:印发|发布|公布|下发)之日起\s*"
                                r"(?:施行|实施|执行|生效|试行)")
VALID_RANGE = re.compile(rf"(?:有效期|执行期限?|实施期限?|试行期)\s*(?:为|自|从)?\s*{DATE}\s*(?:起)?\s*"
                         r"(?:至|到|—|－|-)\s*"
                         + DATE.replace("?P<", "?P<u_"))
VALID_UNTIL = re.compile(rf"(?:有效期|执行|实施|有效)(?:至|到|截至)\s*{DATE}")
VALID_YEARS = re.compile(r"有效期(?:为|是)?\s*([一二两三四五六七八九十\d]{1,3})\s*年")
# The document's own validity, not a certificate's (「评定结果有效期三年」).
OWN_VALIDITY = re.compile(r"本(?:办法|通知|细则|实施细则|规定|意见|方案|规范|决定|条例|政策|措施|文件|"
                          r"公告|通告)|施行|实施")
# An issuing body's line: one or more organ names, no sentence punctuation.
ORGAN_LINE = re.compile(r"^[\u4e00-\u9fa5（）()·\s]{2,80}"
                        r"(?:人民政府|政府|管理委员会|委员会|办公室|办公厅|秘书处|局|厅|部|委|中心|院|署|会|国务院)$")
SIGNER_LINE = re.compile(r"^(?:总理|省长|市长|区长|县长|州长|主席|主任|局长)\s*[:：]?\s*"
                         r"[\u4e00-\u9fa5]{2,4}$")
SIGN_PUNCTUATION = re.compile(r"[。，；：:,;！？、“”]")


@dataclasses.dataclass(frozen=True)
class Dated:
    day: dt.date
    reason: str


def _to_date(match: re.Match, prefix: str = "") -> dt.date | None:
    groups = {k[len(prefix):]: v for k, v in match.groupdict().items() if k.startswith(prefix) and v}
    try:
        if "y" in groups:
            return dt.date(_arabic(groups["y"]), _arabic(groups["m"]), _arabic(groups["d"]))
        if "cy" in groups:
            year = int("".join(str(_CN_DIGITS[c]) for c in groups["cy"]))
            return dt.date(year, cn_int(groups["cm"]), cn_int(groups["cd"]))
        if "iy" in groups:
            return dt.date(_arabic(groups["iy"]), _arabic(groups["im"]), _arabic(groups["id"]))
    except (ValueError, KeyError):
        return None
    return None


def _dated(match: re.Match, reason: str, prefix: str = "") -> Dated | None:
    """The date `match` names, with its reason; None for an impossible date (2月30日)."""
    day = _to_date(match, prefix)
    return Dated(day, reason) if day else None


def _arabic(value: str) -> int:
    return int(value.translate(str.maketrans("０１２３４５６７８９", "0123456789")))


def cn_int(value: str) -> int:
    """一 … 九十九 (and Arabic digits) as an int; 0 when it is neither."""
    value = value.strip()
    if value.isdigit():
        return _arabic(value)
    digits = {**_CN_DIGITS, "两": 2}
    if "十" not in value:
        return digits.get(value, 0) if len(value) == 1 else 0
    tens, _, units = value.partition("十")
    return (digits.get(tens, 0) if tens else 1) * 10 + (digits.get(units, 0) if units else 0)


def publish_date(lines: list[str]) -> Dated | None:
    """The document's own date, by the rules of the module docstring, with the reason."""
    head = "\n".join(lines[:12])
    for match in LABELLED_PUBLISHED.finditer(head):
        day = _to_date(match)
        if day:
            return Dated(day, f"文件标注的「{match.group(0)}」")
    signed = signature_date(lines)
    if signed:
        return signed
    printed = printed_date(lines)
    if printed:
        return printed
    for match in LABELLED_WRITTEN.finditer("\n".join(lines)):
        day = _to_date(match)
        if day:
            return Dated(day, f"文件标注的「{match.group(0)}」")
    return _passed_note(lines)


def signature_date(lines: list[str]) -> Dated | None:
    signed = signature(lines)
    return Dated(signed[1], signed[2]) if signed else None


def signature(lines: list[str]) -> tuple[str | None, dt.date, str] | None:
    """(issuing bodies, date, reason) of the 落款: the first date line right under an issuing
    body's line (several bodies may sign over several lines) or a signer's (「市长：某某」), or
    an organ and a date on one line. The first is the document's own: an attachment's
    signature, if any, comes after it."""
    for index, line in enumerate(lines):
        alone = DATE_LINE.match(line)
        match = alone or _organ_and_date(line)
        day = _to_date(match) if match else None
        if match is None or not day:
            continue
        if not alone:
            organ = match.group("organ").strip()
            return (organ if ORGAN_LINE.match(organ) else None), day, f"落款「{line}」"
        organs = _organs_above(lines, index)
        if organs:
            named = " ".join(o for o in organs if ORGAN_LINE.match(o)) or None
            return named, day, f"落款「{organs[-1]}」下的日期 {line}"
    return None


def _organs_above(lines: list[str], index: int) -> list[str]:
    """The signing lines right above a date line, top to bottom (at most three)."""
    organs: list[str] = []
    for above in reversed(lines[max(0, index - 3):index]):
        if not _signs(above):
            break
        organs.insert(0, above)
    return organs


def _organ_and_date(line: str) -> re.Match | None:
    match = re.match(rf"^(?P<organ>.+?)\s*{DATE}$", line)
    return match if match and _signs(match.group("organ").strip()) else None


def _signs(line: str) -> bool:
    line = line.strip()
    if SIGNER_LINE.match(line):
        return True
    if not line or len(line) > 80 or SIGN_PUNCTUATION.search(line):
        return False
    return bool(ORGAN_LINE.match(line))


def printed_date(lines: list[str]) -> Dated | None:
    """The 版记's 印发 line: 「××办公室 2026年11月21日印发」 (near the end)."""
    for line in reversed(lines[-15:]):
        match = PRINTED_LINE.search(line)
        printed = _dated(match, f"版记「{line}」") if match else None
        if printed:
            return printed
    return None


def _passed_note(lines: list[str]) -> Dated | None:
    """A law's 题注 under its title: the latest date in 「（…通过 … 修正）」."""
    for line in lines[:6]:
        if PASSED_NOTE.match(line):
            days = [d for d in (_to_date(m) for m in DATE_RE.finditer(line)) if d]
            if days:
                return Dated(max(days), f"题注「{line[:60]}」中最近的日期")
    return None


def validity(text: str, lines: list[str], published: Dated | None) -> tuple[Dated | None, Dated | None]:
    """(施行日期, 有效期至) from their sentences; None where the text says nothing."""
    valid_from = until = None
    ranged = VALID_RANGE.search(text)
    if ranged:
        valid_from = _dated(ranged, f"「{_sentence(text, ranged)}」")
        until = _dated(ranged, f"「{_sentence(text, ranged)}」", "u_")
    effective = EFFECTIVE.search(text)
    if effective and not valid_from:
        valid_from = _dated(effective, f"「{_sentence(text, effective)}」")
    on_issue = EFFECTIVE_ON_ISSUE.search(text)
    if on_issue and not valid_from:
        start = printed_date(lines) or published
        if start:
            valid_from = Dated(start.day, f"「{_sentence(text, on_issue)}」，按{start.reason}")
    explicit = VALID_UNTIL.search(text)
    if explicit and not until:
        until = _dated(explicit, f"「{_sentence(text, explicit)}」")
    years = next((m for m in VALID_YEARS.finditer(text)
                  if OWN_VALIDITY.search(_sentence(text, m, 200))), None)
    start = valid_from or published
    if years and not until and start and cn_int(years.group(1)):
        until = Dated(_plus_years(start.day, cn_int(years.group(1))),
                      f"「{_sentence(text, years)}」，自{start.day.isoformat()}起算")
    return valid_from, until


def _plus_years(start: dt.date, years: int) -> dt.date:
    """N years from `start`, the day before the anniversary (有效期5年 from 2024-03-04 ends 2029-03-03)."""
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:  # 29 February
        anniversary = start.replace(year=start.year + years, day=28) + dt.timedelta(days=1)
    return anniversary - dt.timedelta(days=1)


def _sentence(text: str, match: re.Match, longest: int = 60) -> str:
    """The sentence around a match (the reason shown to the drafter: at most 60 characters)."""
    start = max(text.rfind(c, 0, match.start()) for c in "。；\n") + 1
    ends = [i for i in (text.find(c, match.end()) for c in "。；\n") if i >= 0]
    sentence = text[start:min(ends) if ends else len(text)].strip()
    return sentence if len(sentence) <= longest else text[match.start():match.end()]


# -- title, 文号, issuing body ---------------------------------------------------------------------

DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,15}[〔\[［(（【]\s*(\d{4})\s*[〕\]］)）】]\s*\d{1,5}\s*号")
BODY_SUFFIX = re.compile(r"^[\u4e00-\u9fa5（）()]{3,40}"
                         r"(人民政府|管理委员会|委员会|办公室|办公厅|局|厅|部|中心|院)$")
TITLE_WORDS = ("关于", "通知", "办法", "意见", "规定", "方案", "细则", "条例", "解读", "问答", "公告",
               "通告", "指南")
TITLE_ENDINGS = ("通知", "办法", "意见", "解读", "方案", "细则", "规定", "问答", "决定", "公告", "通告")
# Word's default titles, and a 版头 (「××办公室文件」) standing in for the title: no title.
PLACEHOLDER_TITLE = re.compile(r"(?i)(microsoft word|untitled|document|文档)\S*"
                               r"|[\u4e00-\u9fa5（）]{2,40}文件")
INTERPRETATION_TITLE = re.compile("解读|问答|答记者问|图解|答疑|热点\\d*问|一图读懂")


def title_of(lines: list[str], hint: str | None) -> str | None:
    if hint and len(hint.strip()) >= 4 and not PLACEHOLDER_TITLE.fullmatch(hint):
        return normalise_title(hint)
    for index, line in enumerate(lines[:8]):
        if any(word in line for word in TITLE_WORDS) and not DOC_NUMBER.fullmatch(line) and len(line) <= 80:
            follow = lines[index + 1] if index + 1 < len(lines) else ""
            wrapped = follow.endswith(TITLE_ENDINGS) and not line.endswith(TITLE_ENDINGS)
            if wrapped and len(line + follow) <= 80:
                return normalise_title(line + follow)  # a title wrapped over two lines
            return normalise_title(line)
    return normalise_title(lines[0][:80]) if lines else None


def issuing_body(lines: list[str]) -> str | None:
    """The bodies that sign (落款); else an organ's line near the end or the start."""
    signed = signature(lines)
    if signed and signed[0]:
        return signed[0]
    for line in reversed(lines[-12:]):
        if BODY_SUFFIX.match(line):
            return line
    for line in lines[:6]:
        if BODY_SUFFIX.match(line):
            return line
    return None


def doc_number(text: str) -> str | None:
    found = DOC_NUMBER.search(text[:3000])
    if not found:
        return None
    number = re.sub(r"\s+", "", found.group(0))
    return re.sub(r"[\[［(（【](\d{4})[\]］)）】]", r"〔\1〕", number)


# -- interpretations: sections and Q&A -------------------------------------------------------------

# Keywords of each section's heading, most specific first (新旧 before 标准: 「新旧标准对比」).
SECTION_KEYWORDS = (
    ("新旧政策差异", ("新旧", "差异", "变化", "变动", "区别", "对比", "调整", "修订", "修改", "不同")),
    ("后续工作考虑", ("后续", "下一步", "工作考虑", "保障措施", "组织实施", "贯彻落实", "推进落实",
                "工作安排")),
    ("政策背景", ("背景", "依据", "起草", "出台", "制定", "目的", "必要性", "缘由", "意义")),
    ("执行标准", ("执行标准", "标准", "适用对象", "适用范围", "申请条件", "对象", "条件", "范围")),
    ("主要内容", ("主要内容", "核心内容", "主要措施", "政策要点", "要点", "重点", "亮点", "主要条款",
              "框架", "内容")),
)
FAQ_HEADING = re.compile(r"常见问题|问答|答疑|热点问题|相关问题|问题解答")
TOP_HEADING = re.compile(r"^(?:[一二三四五六七八九十]{1,3}\s*[、．.]|"
                         r"第[一二三四五六七八九十]{1,3}部分[、：:\s]*|【)\s*"
                         r"(?P<name>[^】]{2,30}?)\s*】?$")
# Unnumbered heading lines taken as a section's heading: only these names (a short line such
# as 「申请条件」 inside a section is its sub-heading, not a new section).
BARE_HEADINGS = set(SECTION_NAMES) | {"起草背景", "出台背景", "制定背景", "政策依据", "主要变化",
                                      "下一步工作",
                                      "后续工作", "常见问题", "问答", "热点问答", "政策问答"}
MARKED_QUESTION = re.compile(r"^(?:(?:问|提问|Q)\s*[0-9一二三四五六七八九十]{0,3}\s*[:：.、]|【问】)"
                             r"\s*(?P<q>.+)$", re.I)
ANSWER = re.compile(r"^(?:答|回答|答复|A|【答】)\s*[:：.、】]\s*(?P<a>.*)$", re.I)
NUMBERED = re.compile(r"^(?:[一二三四五六七八九十]{1,3}\s*[、．.]|[（(][一二三四五六七八九十\d]{1,3}[)）]|"
                      r"\d{1,3}\s*[、．.](?!\d)|\d{1,2}[.．](?=\d{4}年)|0\d\s+|(?:问题|案例)\s*\d{1,3}\s*[:：]|第[一二三四五六七八九十\d]{1,3}问\s*[:：]?)\s*")
ASKS = re.compile(r"[？?]\s*$")


@dataclasses.dataclass
class Structure:
    body: str
    sections: dict[str, str]
    faq: list[dict]


def section_of(heading: str) -> str | None:
    """Which of the five sections a heading names (「一、起草背景和依据」 → 政策背景)."""
    for name, words in SECTION_KEYWORDS:
        if any(word in heading for word in words):
            return name
    return None


def split_interpretation(text: str) -> Structure:
    """Body, sections and Q&A of an interpretation: each line lands in exactly one of them."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    body: list[str] = []
    sections: dict[str, list[str]] = {name: [] for name in SECTION_NAMES}
    faq: list[dict] = []
    target, in_faq, pair = body, False, None  # where plain lines go now
    headed: dict[str, str] = {}  # section → its heading line, kept in the body if nothing follows
    for index, line in enumerate(lines):
        heading = _top_heading(line)
        if heading and not ASKS.search(line):
            named = None if FAQ_HEADING.search(heading) else section_of(heading)
            in_faq, pair = named is None and bool(FAQ_HEADING.search(heading)), None
            target = sections[named] if named else body
            if named:
                headed.setdefault(named, line)
            if named and heading.strip() not in (named, *BARE_HEADINGS):
                target.append(heading)  # 「起草背景和依据」 says more than the section's name
            if named or in_faq:
                continue
        question = _question(line, lines[index + 1] if index + 1 < len(lines) else "", in_faq)
        if question is not None:
            question, _, inline_answer = question.partition("答：")
            pair = {"q": question.strip(), "a": inline_answer.strip()}
            faq.append(pair)
            continue
        if pair is not None and (DATE_LINE.match(line) or _signs(line)):
            pair, target = None, body  # the signature after the last answer
        answer = ANSWER.match(line)
        if answer and pair is not None and not pair["a"]:
            pair["a"] = answer.group("a").strip()
        elif pair is not None and pair["a"]:
            pair["a"] += "\n" + line
        elif pair is not None and not ASKS.search(pair["q"]) and not answer:
            pair["q"] += line  # a question wrapped over two lines (PDF)
        elif pair is not None:
            pair["a"] = line  # an answer without 答：
        else:
            target.append(line)
    faq = _settle(faq, body)
    body += [line for name, line in headed.items() if not sections[name]]
    return Structure("\n".join(body), {k: "\n".join(v) for k, v in sections.items() if v}, faq)


def _answers(line: str) -> bool:
    """A line that reads as an answer: a statement, not another question or a heading."""
    return len(line) >= 10 and not ASKS.search(line) and not TOP_HEADING.match(line)


def _settle(faq: list[dict], body: list[str]) -> list[dict]:
    """Pairs without an answer, and repeated questions but the fullest, go back to the body
    (a teaser line 「…怎么办？」 before the real question): no line is lost."""
    best: dict[str, dict] = {}
    for pair in faq:
        key = re.sub(r"\W", "", pair["q"])
        if pair["a"] and len(pair["a"]) > len(best.get(key, {"a": ""})["a"]):
            best[key] = pair
    kept = [p for p in faq if best.get(re.sub(r"\W", "", p["q"])) is p]
    for pair in faq:
        if pair not in kept:
            body += [pair["q"]] + ([pair["a"]] if pair["a"] else [])
    return kept


def _top_heading(line: str) -> str | None:
    match = TOP_HEADING.match(line)
    if match:
        return match.group("name")
    bare = line.strip("【】[]：: ")
    return bare if bare in BARE_HEADINGS else None


def _question(line: str, following: str, in_faq: bool) -> str | None:
    """A question line: 问：…, or a numbered (in a Q&A part also an unnumbered) line ending in ？."""
    marked = MARKED_QUESTION.match(line)
    if marked:
        return marked.group("q").strip()
    # A long line ending in ？ is a question when an 答： follows it (a case told in full).
    if ASKS.search(line) and (len(line) <= 90 or ANSWER.match(following)):
        numbered = NUMBERED.match(line)
        if numbered:
            return line[numbered.end():].strip()
        if len(line) <= 60 and (in_faq or ANSWER.match(following) or _answers(following)):
            return line
    return None


# -- everything for the drafter --------------------------------------------------------------------

def suggest_metadata(text: str, title_hint: str | None = None) -> dict:
    """Guesses for the drafter to confirm, each with its reason: title, 文号, issuing body,
    dates, validity, kind; for an interpretation also its sections, Q&A and remaining body."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = title_of(lines, title_hint)
    published = publish_date(lines)
    valid_from, valid_until = validity(text, lines, published)
    kind = "interpretation" if title and INTERPRETATION_TITLE.search(title) else "policy"
    found = {"publish_date": published, "valid_from": valid_from, "valid_until": valid_until}
    reasons = {name: dated.reason for name, dated in found.items() if dated}
    if not published:
        reasons["publish_date"] = "未找到落款日期或印发日期，请按原件填写"
    suggested = {
        "title": title, "doc_number": doc_number(text), "issuing_body": issuing_body(lines),
        "publish_date": _iso(published), "valid_from": _iso(valid_from), "valid_until": _iso(valid_until),
        "kind": kind, "reasons": reasons,
    }
    return {**suggested, **structure_of(text)} if kind == "interpretation" else suggested


def structure_of(text: str) -> dict:
    """The interpretation's parts as stored with the suggestion: body, sections, faq."""
    parts = split_interpretation(text)
    return {"body": parts.body, "sections": parts.sections, "faq": parts.faq}


def _iso(dated: Dated | None) -> str | None:
    return dated.day.isoformat() if dated else None
