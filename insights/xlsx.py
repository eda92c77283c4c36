"""The report as a spreadsheet (.xlsx, openpyxl): one sheet per part of the report, and the
response ledger. Text that a spreadsheet would run as a formula (=, +, -, @ first) is written
with a leading apostrophe-like quote so that a question cannot become a formula."""
from __future__ import annotations

import datetime as dt
import io

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from insights.ledger import LedgerEntry
from insights.report import Report
from policies.titles import book_title

HEADER = Font(bold=True)
OVERDUE = PatternFill("solid", fgColor="F8D7DA")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_workbook(report: Report, entries: list[LedgerEntry]) -> bytes:
    book = Workbook()
    _sheet(book.active, "概况", ["指标", "数值"], summary_rows(report))
    _sheet(book.create_sheet(), "热点主题", ["主题", "问题数", "示例问题", "引用文件"],
           [[t.label, t.count, " | ".join(t.examples), _cited(t.cited, report.titles)]
            for t in report.top_topics])
    _sheet(book.create_sheet(), "相似问题", ["分组", "问题数", "示例问题", "引用文件"],
           [[g.label, g.size, " | ".join(g.examples()), _cited(g.cited_documents(), report.titles)]
            for g in report.groups])
    _sheet(book.create_sheet(), "上升热点", ["类型", "主题/关键词", "该周问题数", "此前四周周均"],
           [["主题", r.label, r.count, round(r.previous_mean, 2)] for r in report.rising_topics]
           + [["关键词", r.label, r.count, round(r.previous_mean, 2)] for r in report.rising_keywords])
    _sheet(book.create_sheet(), "未答分组", ["分组", "问题数", "示例问题", "候选文件"],
           [[g.label, g.size, " | ".join(g.examples()), _cited(g.cited_documents(), report.titles)]
            for g in report.unanswered_groups])
    _ledger_sheet(book.create_sheet(), entries)
    _sheet(book.create_sheet(), "解读率", ["部门", "重大政策", "已解读", "解读率"],
           [[d.department, d.major, d.interpreted, _pct(d.rate)] for d in report.department_rates])
    _sheet(book.create_sheet(), "解读覆盖", ["政策", "标题", "部门", "问题数", "已回答", "由解读回答",
                                          "解读覆盖", "未回答", "待办分组"],
           [[p.policy_id, p.title, p.department, p.questions, p.answered, p.from_interpretation,
             _pct(p.share), p.unanswered, "；".join(report.open_tasks.get(p.policy_id, []))]
            for p in report.policy_coverage])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def summary_rows(report: Report) -> list[list[object]]:
    rows: list[list[object]] = [
        ["报告", report.period.label], ["问题数", report.questions], ["已回答", report.answered],
        ["未回答", report.unanswered], ["回答率", _pct(report.answer_rate)],
        ["评价数", report.rated], ["满意", report.satisfied], ["满意率", _pct(report.satisfaction)],
        ["新开任务", report.tasks_opened], ["办结任务", report.tasks_closed],
        ["逾期任务", report.tasks_overdue],
        ["上升热点统计周", f"{report.rising_week.start.isoformat()} 起"]]
    return rows + [[f"渠道：{c}", n] for c, n in report.by_channel.items()]


def safe(value):
    """A cell value that a spreadsheet shows as written."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _sheet(sheet, title: str, header: list[str], rows: list[list[object]]) -> None:
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = HEADER
    for row in rows:
        sheet.append([safe(v) for v in row])
    for column, width in zip("ABCDEFGHI", (28, 14, 60, 30, 14, 14, 14, 14, 30), strict=True):
        sheet.column_dimensions[column].width = width


def _ledger_sheet(sheet, entries: list[LedgerEntry]) -> None:
    _sheet(sheet, "回应台账", ["类型", "编号", "事项", "部门", "责任人", "状态", "开始", "期限", "办结",
                           "发布文件", "逾期", "说明"],
           [[e.kind, e.id, e.title, e.department, e.owner or "", e.state, e.opened, e.due,
             _date(e.done), e.published or "", "逾期" if e.overdue else "", e.detail] for e in entries])
    for row, entry in enumerate(entries, start=2):
        if entry.overdue:
            for cell in sheet[row]:
                cell.fill = OVERDUE


def _cited(cited: list[tuple[str, int]], titles: dict[str, str]) -> str:
    return "、".join(f"{book_title(titles.get(doc, doc))}({n})" for doc, n in cited)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _date(moment: dt.datetime | None) -> str:
    return moment.date().isoformat() if moment else ""
