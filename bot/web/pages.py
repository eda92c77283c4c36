"""Public H5 pages (no login): a policy page with article anchors and its interpretations,
the 现行有效目录 with filters, and a search page. Read-only; text is escaped by Jinja;
every response carries a strict Content-Security-Policy (scripts only from our origin)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from bot.web.document_view import document_page
from policies import store
from policies.validity import catalogue, catalogue_facets, local_today

bp = Blueprint("h5", __name__, template_folder="templates", static_folder="static",
               static_url_path="/h5/static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SEARCH_K = 10
MAX_QUERY_CHARS = 200


@bp.after_app_request
def security_headers(response):
    if request.blueprint in ("h5", "simulator"):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _today():
    return local_today(current_app.config.get("TIMEZONE", "Asia/Shanghai"))


@bp.get("/p/<path:doc_id>")
def policy(doc_id: str):
    db = current_app.extensions["policybot"].db
    with db.read() as conn:
        if store.get_visibility(conn, doc_id) != "public":
            abort(404)
        page = document_page(conn, store.get_document(conn, doc_id), _today())
    return render_template("h5/policy.html", page=page)


@bp.get("/catalogue")
def catalogue_page():
    filters = {name: (request.args.get(name) or None) for name in ("topic", "audience", "issuing_body")}
    today = _today()
    with current_app.extensions["policybot"].db.read() as conn:
        docs = catalogue(conn, today, **filters)
        facets = catalogue_facets(conn, today)
    return render_template("h5/catalogue.html", docs=docs, facets=facets, filters=filters, today=today)


@bp.get("/search")
def search_page():
    query = (request.args.get("q") or "").strip()[:MAX_QUERY_CHARS]
    hits, unavailable = [], False
    service = getattr(current_app.extensions["policybot"], "search", None)
    if query and service is None:
        unavailable = True
    elif query:
        try:
            hits = service.search(query, k=SEARCH_K, include_expired=bool(request.args.get("all")))
        except Exception:  # index still loading or failed: say so instead of an error page
            current_app.logger.exception("search page failed")
            unavailable = True
    return render_template("h5/search.html", query=query, hits=hits, unavailable=unavailable,
                           include_expired=bool(request.args.get("all")))
