"""Documents a question names exactly, by 文号 or by title: these go first."""
from __future__ import annotations

import functools
import re
import unicodedata

from index.records import DocMeta
from index.tokenizer import normalise_doc_number

MIN_NAME = 3  # 民法典, 公司法: a shorter name would match by accident
_TITLE_NAME_RE = re.compile(r"《([^《》]+)》")


def _plain(text: str) -> str:
    return re.sub(r"[\s《》“”\"']", "", unicodedata.normalize("NFKC", text))


def names_of(doc: DocMeta) -> frozenset[str]:
    return _names_in_title(doc.title)


@functools.lru_cache(maxsize=8192)
def _names_in_title(title: str) -> frozenset[str]:
    """Cached by the title alone: a document's metadata hashed whole at every search cost more
    than the names."""
    names = {_plain(title), _plain(re.sub(r"^中华人民共和国", "", title))}
    names.update(_plain(n) for n in _TITLE_NAME_RE.findall(title))
    return frozenset(n for n in names if len(n) >= MIN_NAME)


@functools.lru_cache(maxsize=8192)
def _number_of(doc_number: str) -> str:
    """A document's 文号 in its one spelling: normalised once, not for every question."""
    return normalise_doc_number(doc_number)


def named_documents(query: str, docs: dict[str, DocMeta]) -> set[str]:
    """Ids of documents whose 文号 or (short) title the question contains."""
    plain = _plain(query)
    number_form = normalise_doc_number(query)
    named = set()
    for doc in docs.values():
        if doc.doc_number and _number_of(doc.doc_number) in number_form:
            named.add(doc.id)
        elif any(name in plain for name in names_of(doc)):
            named.add(doc.id)
    return _most_specific(named, docs, plain)


def _most_specific(named: set[str], docs: dict[str, DocMeta], plain: str) -> set[str]:
    """`民法典` inside `民法典婚姻家庭编的解释`: keep only the longest names that matched."""
    if len(named) < 2:
        return named
    best = {d: max((len(n) for n in names_of(docs[d]) if n in plain), default=99) for d in named}
    longest = max(best.values())
    return {d for d, length in best.items() if length == longest or length == 99}
