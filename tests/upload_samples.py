"""Real-looking upload files for tests, the browser journey and bench/bench_uploads.py: a
「关于印发《…》的通知」 with its attached 办法 (signed 2026-11-20, the 办法 valid until
2027-12-31: the trap of "the last date in the text"), an interpretation with the five
section headings and 问：/答： blocks, and writers that turn any lines into a .docx (headings
in Word's heading styles, like an office's file), an .html page, or a .pdf printed by
Chromium (a real text layer with its line wraps).

    from upload_samples import notice_docx, NOTICE_EXPECTED, interpretation_docx
"""
from __future__ import annotations

import html
import io
import re

NOTICE_TITLE = "关于印发《南昌经开区高校毕业生就业创业补贴办法》的通知"
MEASURES_TITLE = "南昌经开区高校毕业生就业创业补贴办法"
NOTICE_LINES = [
    "南昌经济技术开发区管理委员会办公室文件",
    "洪经管办发〔2026〕12号",
    NOTICE_TITLE,
    "各处室、各街道，区属各单位：",
    f"《{MEASURES_TITLE}》已经管委会2026年11月18日主任办公会研究同意，现印发给你们，请认真贯彻执行。",
    "南昌经济技术开发区管理委员会办公室",
    "2026年11月20日",
    "（此件公开发布）",
    MEASURES_TITLE,
    "第一章 总则",
    "第一条 为鼓励高校毕业生在经开区就业创业，根据《江西省就业创业补贴资金管理办法》，"
    "结合本区实际，制定本办法。",
    "第二条 本办法适用于2025年1月1日以后毕业、在经开区就业或创办企业的全日制高校毕业生。",
    "第二章 补贴标准",
    "第三条 在区内企业就业并连续缴纳社会保险满6个月的，给予一次性就业补贴每人3000元。",
    "第四条 在区内首次创办企业并正常经营满12个月的，给予一次性创业补贴每户10000元。",
    "第三章 申请程序",
    "第五条 申请人于每年3月、9月通过“赣服通”经开区分厅提交申请，区人社局自受理之日起20个工作日内完成审核。",
    "第六条 审核通过的名单在区政府网站公示5个工作日，无异议的由区财政局于公示期满后10个工作日内拨付。",
    "第四章 附则",
    "第七条 本办法由区人力资源和社会保障局负责解释。咨询电话：0791-88161234（区人社局就业促进科）。",
    "第八条 本办法自2026年12月1日起施行，有效期至2027年12月31日。",
    "南昌经济技术开发区管理委员会办公室 2026年11月21日印发",
]
NOTICE_HEADINGS = {NOTICE_TITLE, MEASURES_TITLE}
NOTICE_EXPECTED = {"title": NOTICE_TITLE, "doc_number": "洪经管办发〔2026〕12号",
                   "issuing_body": "南昌经济技术开发区管理委员会办公室", "publish_date": "2026-11-20",
                   "valid_from": "2026-12-01", "valid_until": "2027-12-31", "kind": "policy"}
# Hidden parts a reviewer must see (and the scan must flag): a comment with a mobile number.
NOTICE_COMMENT = "请核对：经办人手机 13800138000"

INTERPRETATION_TITLE = f"《{MEASURES_TITLE}》政策解读"
INTERPRETATION_SECTIONS = {
    "政策背景": "为贯彻落实稳就业决策部署，吸引高校毕业生来区就业创业，区人社局会同区财政局起草了《办法》。",
    "主要内容": "《办法》共四章八条，明确了适用对象、补贴标准、申请程序和资金拨付。\n"
                "（一）就业补贴：在区内企业就业并连续缴纳社会保险满6个月的，每人3000元。\n"
                "（二）创业补贴：首次创办企业并正常经营满12个月的，每户10000元。",
    "执行标准": "补贴对象为2025年1月1日以后毕业的全日制高校毕业生；同一人只能享受一次就业补贴。",
    "新旧政策差异": "与原《经开区促进就业若干措施》相比，就业补贴由每人2000元提高到3000元，新增创业补贴。",
    "后续工作考虑": "区人社局将通过“赣服通”开通线上申请，并在每批补贴发放后公开发放名单。",
}
INTERPRETATION_FAQ = [
    {"q": "毕业两年后来经开区就业，还能申请就业补贴吗？",
     "a": "可以。只要是2025年1月1日以后毕业的全日制高校毕业生，在区内企业就业并连续缴纳社会保险满6个月"
          "即可申请。"},
    {"q": "就业补贴和创业补贴可以同时享受吗？",
     "a": "可以。两项补贴条件不同，符合条件的可以分别申请。"},
    {"q": "补贴多久能到账？",
     "a": "公示期满无异议后10个工作日内，由区财政局拨付到申请人本人社会保障卡银行账户。"},
]
INTERPRETATION_BODY = ["为便于社会公众准确理解《南昌经开区高校毕业生就业创业补贴办法》，现解读如下。"]
INTERPRETATION_HEADINGS = ("一、政策背景", "二、主要内容", "三、执行标准", "四、新旧政策差异",
                           "五、后续工作考虑")


def interpretation_lines() -> list[str]:
    lines = [INTERPRETATION_TITLE, *INTERPRETATION_BODY]
    for heading, name in zip(INTERPRETATION_HEADINGS, INTERPRETATION_SECTIONS, strict=True):
        lines += [heading, *INTERPRETATION_SECTIONS[name].split("\n")]
    lines.append("六、常见问题")
    for pair in INTERPRETATION_FAQ:
        lines += [f"问：{pair['q']}", f"答：{pair['a']}"]
    return lines + ["南昌经济技术开发区人力资源和社会保障局", "2026年11月20日"]


# -- writers -----------------------------------------------------------------------------------------

def docx_bytes(lines: list[str], *, headings=(), title: str | None = None,
               comment: str | None = None) -> bytes:
    """A Word file: one paragraph a line, `headings` in heading styles, the core title set."""
    import docx

    document = docx.Document()
    document.core_properties.title = title or lines[0]
    first = None
    for line in lines:
        if line in headings or re.match(r"^[一二三四五六七八九十]+、\S{2,12}$", line):
            document.add_heading(line, 1 if line in headings else 2)
        else:
            paragraph = document.add_paragraph(line)
            first = first or paragraph
    if comment and first is not None:
        document.add_comment(first.runs, text=comment, author="审核人")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_bytes(lines: list[str], *, headings=(), published: str | None = None) -> bytes:
    """A government web page: the title, a 发布日期 line when given, one <p> a line."""
    body = []
    for line in lines:
        tag = "h1" if line == lines[0] else "h2" if line in headings else "p"
        body.append(f"<{tag}>{html.escape(line)}</{tag}>")
    meta = f'<div class="info">发布日期：{published}</div>' if published else ""
    return ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(lines[0])}</title></head><body>{body[0]}{meta}{''.join(body[1:])}"
            "</body></html>").encode()


def pdf_bytes(page_html: bytes, browser) -> bytes:
    """The page printed to PDF by Chromium (Playwright's `browser`): A4, CJK font embedded."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(page_html.decode("utf-8").replace(
            "<head>", "<head><style>body{font-family:'WenQuanYi Micro Hei';font-size:14pt}</style>"))
        return page.pdf(format="A4")
    finally:
        context.close()


def notice_docx() -> bytes:
    return docx_bytes(NOTICE_LINES, headings=NOTICE_HEADINGS, title=NOTICE_TITLE, comment=NOTICE_COMMENT)


def interpretation_docx() -> bytes:
    return docx_bytes(interpretation_lines(), headings={INTERPRETATION_TITLE}, title=INTERPRETATION_TITLE)
