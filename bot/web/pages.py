"""Public H5 pages (no login): a policy page with article anchors and its interpretations,
the 现行有效目录 with filters, and a search page. Read-only but for one form: opened from an
answer's link (`?r=<answer reference>`, bot.links), the policy page asks 满意 / 不满意 and
records it against that answer. Text is escaped by Jinja; every response carries a strict
Content-Security-Policy (scripts only from our origin)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from bot.links import ANSWER_REF_PARAM, is_answer_ref
from bot.questionlog import RATINGS
from bot.web.document_view import document_page
from policies import store
from policies.status import Validity
from policies.titles import book_title
from policies.validity import (
    DEFAULT_TIMEZONE,
    catalogue,
    catalogue_count,
    catalogue_facets,
    local_today,
    upcoming,
)

bp = Blueprint("h5", __name__, template_folder="templates", static_folder="static",
               static_url_path="/h5/static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SEARCH_K = 10
MAX_QUERY_CHARS = 200


bp.add_app_template_filter(book_title, "book")


@bp.app_template_filter("cn_date")
def cn_date(day) -> str:
    """2026-12-01 → 2026年12月1日: how a date is written for residents."""
    return f"{day.year}年{day.month}月{day.day}日"


@bp.app_context_processor
def government():
    """Whose government these pages are (GOVERNMENT_NAME), named on every public page."""
    return {"government_name": current_app.config.get("GOVERNMENT_NAME") or ""}


@bp.after_app_request
def security_headers(response):
    if request.blueprint == "h5":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@bp.errorhandler(404)
def not_found(error):
    """A resident following an old or mistyped link to a policy gets a page in Chinese that
    leads on (the catalogue, the search) instead of the framework's English one."""
    return render_template("h5/not_found.html"), 404


def _today():
    return local_today(current_app.config.get("TIMEZONE", DEFAULT_TIMEZONE))


FEEDBACK_ERRORS = {
    "bad_ref": (400, "评价链接不完整，无法记录评价。请从公众号答复中的链接重新打开本页，"
                     "或在公众号里回复 1（满意）或 2（不满意）。"),
    "unknown_ref": (404, "没有找到这条答复，可能已过保存期限，评价未记录。"
                         "您可以在公众号里回复 1（满意）或 2（不满意）评价最近的答复。"),
    "bad_rating": (400, "请选择「满意」或「不满意」后再提交。"),
    "off": (404, "评价功能暂未开放。"),
}


def _public_page(doc_id: str):
    with current_app.extensions["policybot"].db.read() as conn:
        if store.get_visibility(conn, doc_id) != "public":
            abort(404)
        document = store.get_document(conn, doc_id)
        if document is None:
            abort(404)
        return document_page(conn, document, _today())


@bp.get("/p/<path:doc_id>")
def policy(doc_id: str):
    page = _public_page(doc_id)
    ref = request.args.get(ANSWER_REF_PARAM)
    return render_template("h5/policy.html", page=page, ref=ref if is_answer_ref(ref) else None,
                           rated=request.args.get("rated") == "1")


@bp.post("/p/<path:doc_id>/feedback")
def feedback(doc_id: str):
    """满意 / 不满意 from the page, recorded against the answer whose link opened it."""
    page = _public_page(doc_id)
    ref, rating = request.form.get(ANSWER_REF_PARAM), request.form.get("rating")
    if not is_answer_ref(ref):  # checked before the database sees it
        return _feedback_error(page, None, "bad_ref")
    if rating not in RATINGS:
        return _feedback_error(page, ref, "bad_rating")
    svc = current_app.extensions["policybot"]
    questions = svc.questions
    if questions is None:
        return _feedback_error(page, None, "off")
    if svc.bot is not None:
        svc.bot.flush()  # the answer being rated may still be queued for the log
    if questions.rate_answer(ref, rating) is None:
        return _feedback_error(page, None, "unknown_ref")
    target = url_for("h5.policy", doc_id=doc_id) + "?" + urlencode({ANSWER_REF_PARAM: ref, "rated": 1})
    return redirect(target + "#feedback", code=303)


def _feedback_error(page, ref: str | None, reason: str):
    """The page again, with the reason in plain words; the form stays while it can succeed."""
    status, message = FEEDBACK_ERRORS[reason]
    return render_template("h5/policy.html", page=page, ref=ref, rated=False,
                           feedback_error=message), status


@bp.get("/")
def home():
    """The landing page: what this site is, and the ways in (catalogue, search, staff)."""
    today = _today()
    with current_app.extensions["policybot"].db.read() as conn:
        in_force, soon = catalogue_count(conn, today), len(upcoming(conn, today))
    return render_template("h5/home.html", in_force=in_force, soon=soon, today=today)


@bp.get("/catalogue")
def catalogue_page():
    filters = {name: (request.args.get(name) or None) for name in ("topic", "audience", "issuing_body")}
    today = _today()
    with current_app.extensions["policybot"].db.read() as conn:
        docs = catalogue(conn, today, **filters)
        facets = catalogue_facets(conn, today)
        soon = [d for d in upcoming(conn, today) if _passes(d, filters)]
    return render_template("h5/catalogue.html", docs=docs, facets=facets, filters=filters, today=today,
                           upcoming=[(d, Validity.of(d).word(today)) for d in soon])


def _passes(doc, filters: dict) -> bool:
    """The catalogue's filters applied to a document of the 即将施行 list."""
    return ((not filters["topic"] or filters["topic"] in doc.topics)
            and (not filters["audience"] or filters["audience"] in doc.audience)
            and (not filters["issuing_body"] or filters["issuing_body"] == doc.issuing_body))


@bp.get("/search")
def search_page():
    query = (request.args.get("q") or "").strip()[:MAX_QUERY_CHARS]
    hits, unavailable = [], False
    service = getattr(current_app.extensions["policybot"], "search", None)
    if query and service is None:
        unavailable = True
    elif query and service is not None:
        try:
            hits = service.search(query, k=SEARCH_K, include_expired=bool(request.args.get("all")))
        except Exception:  # index still loading or failed: say so instead of an error page
            current_app.logger.exception("search page failed")
            unavailable = True
    today = _today()
    return render_template("h5/search.html", query=query, unavailable=unavailable,
                           hits=[(hit, Validity.of(hit).word(today)) for hit in hits],
                           include_expired=bool(request.args.get("all")))
