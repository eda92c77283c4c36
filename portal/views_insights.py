"""Staff pages under /staff/insights: the dashboard (this week, the response ledger), the
week / month / quarter report with charts, its spreadsheet, and the ledger's actions.

Staff pages belong to the portal (insights/ computes, the portal shows): the same guard
(`staff_required`, `require_department`) as every other staff page, CSRF on every POST under
/staff and the CSP (no scripts here at all; charts are inline SVG, styles a static file). The
templates and the stylesheet stay beside the code that fills them, in insights/."""
from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

import insights as insights_package
from bot.web.bounds import date_field, int_field
from insights import tasks as task_ops
from insights.charts import day_columns, hbar_chart
from insights.ledger import add_commitment, department_of, fulfil_commitment
from insights.periods import KINDS
from interpretations import audit
from portal.auth import require_department, signed_in, staff_required

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
bp = Blueprint("insights", __name__, url_prefix="/staff/insights",
               root_path=str(pathlib.Path(insights_package.__file__).parent),
               template_folder="templates", static_folder="static")


def insights():
    return current_app.extensions["policybot"].insights


def _responsible(kind: str, item_id: int) -> str:
    """The ledger's actions belong to the responsible department and to admins (a 人社局
    drafter once marked 发改局's commitment done); 404 for an unknown id."""
    try:
        department = department_of(insights().db, kind, item_id)
    except KeyError:
        abort(404)
    require_department(department)
    return department


def _audit(action: str, comment: str) -> None:
    """Every ledger action is in the audit log: who, role, when, what."""
    me = signed_in()
    with insights().db.write() as conn:
        audit.append(conn, actor=me.username, role=me.role, action=action, release_id=None,
                     from_state=None, to_state=None, comment=comment)


@bp.get("/")
@staff_required()
def dashboard():
    service = insights()
    today = service.today()
    report = service.report("week", today, today)
    return render_template("insights/dashboard.html", report=report, ledger=service.ledger(today),
                           charts=_charts(report), kinds=KINDS, today=today)


@bp.get("/report")
@staff_required()
def report_page():
    kind, day = _period_args()
    report = insights().report(kind, day, include_simulated=request.args.get("simulated") == "1")
    return render_template("insights/report.html", report=report, charts=_charts(report),
                           kind=kind, day=day, kinds=KINDS)


@bp.get("/report.xlsx")
@staff_required()
def report_xlsx():
    kind, day = _period_args()
    service = insights()
    report = service.report(kind, day)
    name = f"insights-{kind}-{report.period.start.isoformat()}.xlsx"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(service.workbook(report), headers=disposition, mimetype=XLSX_TYPE)


@bp.post("/tasks/raise")
@staff_required()
def raise_tasks():
    day = _date(request.form.get("date")) or insights().today()
    created = insights().raise_tasks(day)
    _audit("tasks raised", f"{day.isoformat()} 所在周：任务 {'、'.join(map(str, created)) or '无'}")
    flash(f"已生成或更新 {len(created)} 项任务")
    return redirect(url_for("insights.dashboard"))


@bp.post("/tasks/<int:task_id>/link")
@staff_required()
def link_task(task_id: int):
    _responsible("task", task_id)
    document_id = (request.form.get("document_id") or "").strip()
    try:
        result = insights().link(task_id, document_id)
    except (ValueError, KeyError) as refused:
        flash(f"未能关联：{refused.args[0] if refused.args else refused}")
    else:
        _audit("task linked", f"任务 {task_id} → {document_id}")
        checked = f"，复核 {result['answered']}/{result['total']} 可答" if result else "，待发布后复核"
        flash(f"任务 {task_id} 已关联 {document_id}{checked}")
    return redirect(url_for("insights.dashboard"))


@bp.post("/tasks/<int:task_id>/owner")
@staff_required()
def assign_task(task_id: int):
    _responsible("task", task_id)
    owner = request.form.get("owner", "")

    def assign() -> tuple[str, str]:
        task_ops.assign(insights().db, task_id, owner)
        return "task assigned", f"任务 {task_id} 责任人：{owner.strip()}"
    return _ledger_step("未能指派", assign)


@bp.post("/commitments")
@staff_required()
def new_commitment():
    form = request.form

    def add() -> tuple[str, str]:
        made_on = insights().today()
        due = _date(form.get("due_date"))
        if due is None:
            raise ValueError("请填写期限")
        task_id = int_field(form.get("task_id"), "关联任务")
        department = form.get("department", "").strip()
        if department:  # none: add_commitment says what is missing
            require_department(department)
        commitment = add_commitment(insights().db, department, form.get("text", "").strip(),
                                    made_on, due, owner=form.get("owner") or None, task_id=task_id)
        return "commitment added", f"承诺 {commitment}（{department}），期限 {due.isoformat()}"
    return _ledger_step("未能登记", add)


@bp.post("/commitments/<int:commitment_id>/done")
@staff_required()
def commitment_done(commitment_id: int):
    _responsible("commitment", commitment_id)
    document_id = request.form.get("document_id") or None
    fulfil_commitment(insights().db, commitment_id, document_id)
    _audit("commitment done", f"承诺 {commitment_id}" + (f" → {document_id}" if document_id else ""))
    return redirect(url_for("insights.dashboard"))


def _ledger_step(refusal: str, step: Callable[[], tuple[str, str]]) -> ResponseReturnValue:
    """Run a ledger step that returns (audit action, comment): audited when done, its refusal
    (a ValueError) shown as 「refusal：reason」; back to the dashboard either way."""
    try:
        action, comment = step()
    except ValueError as refused:
        flash(f"{refusal}：{refused}")
    else:
        _audit(action, comment)
    return redirect(url_for("insights.dashboard"))


def _period_args() -> tuple[str, dt.date]:
    kind = request.args.get("period", "week")
    if kind not in KINDS:
        abort(400, description="报告周期只能是周报、月报或季报")
    day = _date(request.args.get("date")) or insights().today()
    return kind, day


def _date(text: str | None) -> dt.date | None:
    return date_field(text, "日期")


def _charts(report) -> dict:
    days = [(d.strftime("%m-%d"), total, answered) for d, total, answered in report.by_day]
    return {
        "days": day_columns(days, "每日提问与回答"),
        "topics": hbar_chart([(t.label, t.count) for t in report.top_topics], "热点主题（问题数）"),
        "rates": hbar_chart([(d.department, d.rate or 0.0) for d in report.department_rates][:15],
                            "各部门解读率", percent=True),
    }
