"""The 保密审查 scanner: recall on generated, checksum-valid personal data written the ways
people write it, false positives on the real documents of the demo corpus, and the cases
that must (not) be flagged. Each measuring test prints its figure."""
from __future__ import annotations

import collections
import datetime as dt
import json
import pathlib
import random

import pytest

from interpretations.confidentiality import (
    ID_CHECK,
    ID_WEIGHTS,
    context_of,
    document_parts,
    is_office_contact,
    mask,
    masked_text,
    office_contacts,
    scan_text,
)
from policies.model import Document

DEMO = pathlib.Path(__file__).resolve().parent.parent / "data" / "demo-documents.jsonl"
REGIONS = ("110105", "310104", "440106", "360102", "510107", "330106", "420111", "610113")
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
TEMPLATES = (
    "申请人张某，身份证号：{}，",
    "{}",
    "经办人{}（请核对）",
    "证件号码 {} 。",
    "联系方式：{}\n下一行",
    "A{}B",
    "（{}）",
)


def id_number(rng: random.Random) -> str:
    born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 34000))
    body = rng.choice(REGIONS) + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10 ** 9):09d}"


def card(rng: random.Random) -> str:
    prefix = rng.choice(("622202", "621700", "622848", "436742", "524091", "623058"))
    length = rng.choice((16, 19))
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + _luhn_digit(body)


def _luhn_digit(body: str) -> str:
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def written(value: str, rng: random.Random, groups: tuple[int, ...]) -> str:
    """The ways people write a number: plain, full-width, grouped by spaces or hyphens,
    broken over a line, lowercase x."""
    style = rng.randrange(6)
    if style == 1:
        return value.translate(FULL_WIDTH)
    if style in (2, 3):
        sep, out, at = (" ", "-")[style - 2], [], 0
        for size in groups:
            out.append(value[at:at + size])
            at += size
        return sep.join(part for part in out + [value[at:]] if part)
    if style == 4:
        cut = rng.randrange(3, len(value) - 3)
        return value[:cut] + "\n" + value[cut:]
    if style == 5:
        return value.lower()
    return value


def recall(kind: str, make, groups, category: str, n: int = 1000, seed: int = 7) -> tuple[float, list]:
    rng = random.Random(seed)
    missed = []
    for _ in range(n):
        value = make(rng)
        text = rng.choice(TEMPLATES).format(written(value, rng, groups))
        found = [
            f
            for f in scan_text(text)
            if f.category == category
            and "".join(
                ch
                for ch in f.matched.upper().translate(str.maketrans("０１２３４５６７８９Ｘ", "0123456789X"))
                if ch.isalnum()
            )
            == value.upper()
        ]
        if not found:
            missed.append(text)
    rate = 1 - len(missed) / n
    print(f"\nPII recall, {n} generated {kind}: {rate:.1%} ({n - len(missed)}/{n})")
    return rate, missed


def test_recall_checksum_valid_id_numbers():
    rate, missed = recall("checksum-valid ID numbers", id_number, (6, 8), "id_number")
    assert rate == 1.0, missed[:5]


def test_recall_mobile_numbers():
    rate, missed = recall("mobile numbers", mobile, (3, 4), "mobile")
    assert rate == 1.0, missed[:5]


def test_recall_bank_cards():
    rate, missed = recall("Luhn-valid bank card numbers", card, (4, 4, 4), "bank_card")
    assert rate == 1.0, missed[:5]


STARD = (
    pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "stard" / "documents.jsonl"
)


def false_positives(path: pathlib.Path, name: str) -> tuple[float, int]:
    """Findings on published documents (every one a false positive: these documents are
    public) and the office contact lines recognised as published on purpose; returns the
    false positives per 100 documents and how many of them are office contacts."""
    docs = [Document.from_record(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    contacts, wrong, contact_fp = collections.Counter(), collections.Counter(), 0
    for doc in docs:
        for _, text in document_parts(doc):
            contacts.update(f.category for f in office_contacts(text))
            found = scan_text(text)
            wrong.update(f.category for f in found)
            contact_fp += sum(1 for f in found if _under_contact_label(text, f))
    per_100 = 100 * sum(wrong.values()) / len(docs)
    print(f"\nPII scan of {name} ({len(docs)} real published documents): office contacts recognised "
          f"{sum(contacts.values())} {dict(contacts)}; false positives {sum(wrong.values())} = "
          f"{per_100:.1f} per 100 documents {dict(wrong)}, of them published contact lines {contact_fp}")
    return per_100, contact_fp


def _under_contact_label(text: str, finding) -> bool:
    before = text[max(0, finding.start - 40):finding.start]
    return finding.category in ("landline", "email") and any(
        word in before for word in ("电话", "热线", "邮箱", "传真", "联系方式"))


def test_false_positives_on_the_demo_corpus():
    # The rules for amounts, markings and contact lines were tuned on this corpus; the STARD
    # laws below are a hold-out that was not looked at while tuning.
    per_100, contact_lines = false_positives(DEMO, "the demo corpus")
    assert contact_lines == 0 and per_100 <= 1


def test_false_positives_on_held_out_laws():
    if not STARD.exists():
        pytest.skip(f"{STARD} is not on this machine")
    assert false_positives(STARD, "the STARD laws (held out)")[0] <= 5


@pytest.mark.parametrize("text", [
    "身份证号 110105********002X（已脱敏）", "洪经管办发〔2024〕1号", "补贴金额为 12345678 元",
    "2024年6月24日", "请拨打 12345 政务服务热线",
    "防止泄露国家秘密、工作秘密和敏感信息", "统一社会信用代码 91440101MA5CXXXX1X", "第123456789条",
    "涉及国家秘密、商业秘密、个人隐私等不宜公开的信息", "而不宜公开证人的姓名", "场馆暂不对外开放。",
    "（此件公开发布）", "起草单位报送文件送审稿及其说明", "咨询电话：020-38200174、020-38623769。",
    "区教育局小学和幼儿教育科联系电话：38622512", "市卫生健康委联系人：孙映吟，联系电话：81085234",
    "序号：1；单位：沙河街；办公电话：37286460；街道地址：天河区沙河大街89号",
    "可通过邮箱hrssgz@gz.gov.cn联系", "区人社局就业科，联系电话：83331234，邮箱 jyk@163.com"])
def test_not_flagged(text):
    assert scan_text(text) == []


@pytest.mark.parametrize("text,category", [
    ("机密★1年", "marking"), ("【内部资料】", "marking"), ("关于X的办法（征求意见稿）", "marking"),
    ("内部资料 注意保存", "marking"), ("联系人手机 +86 139-1234-5678", "mobile"),
    ("个人电话 (020)83331234", "landline"), ("收款账号：6217000010012345678", "bank_card"),
    ("服务器 192.168.10.21 上的文件", "internal_ip"), ("api_key = sk_live_abcdef123456", "key"),
    ("zhang.san@163.com", "email"), ("旧证 110105491231002", "id_number"),
    ("关于X的办法（内部讨论稿）", "marking"), ("第三条 补贴标准另行确定（此段暂不对外）。", "marking"),
    ("本节内容不宜公开。", "marking"), ("（此件不公开）", "marking"), ("本方案仅供内部参考。", "marking"),
    ("请勿外传", "marking"), ("讨论稿", "marking"), ("此表内部掌握。", "marking"),
    ("名单暂不公布。", "marking"),
    ("联系人张三，家中电话 020-83331234", "landline"), ("申请人王某，联系电话：020-83331234", "landline"),
    ("联系电话：83331234", "landline"), ("本人邮箱 zhang@163.com", "email"),
    ("咨询电话：13912345678", "mobile")])
def test_flagged(text, category):
    assert [f.category for f in scan_text(text)] == [category]


def test_office_contacts_are_recognised_not_reported():
    for text in ("咨询电话：020-38200174、020-38623769。", "可通过邮箱hrssgz@gz.gov.cn联系"):
        assert scan_text(text) == [] and office_contacts(text), text
        assert all(is_office_contact(text, f) for f in office_contacts(text))
    text = "联系人张三，家中电话 020-83331234"
    assert office_contacts(text) == [] and not is_office_contact(text, scan_text(text)[0])


def test_offsets_point_into_the_original_text_and_masking_keeps_length():
    text = "甲：１１０１０５１９４９１２３１００２Ｘ；乙：13912345678"
    found = scan_text(text)
    assert [text[f.start:f.end] for f in found] == [f.matched for f in found]
    assert len(masked_text(text)) == len(text) and "13912345678" not in masked_text(text)
    assert mask("13912345678") == "139******78"
    assert "13912345678" not in context_of(text, found[0])
