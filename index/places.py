"""The places a question asks about, and whether a document's region covers them.

Residents of other cities write to a city's account too: 「想把户口迁到深圳」 is not answered by
Guangzhou's 积分入户 rules however well the words match, and a question about 南昌经开区's
subsidies is not answered by a Tianhe district measure. The answer decision reads
`elsewhere`: the question names provinces or cities and the document, a local one, covers
none of them. A place named as where one comes from (户口在河南, 老家是河源的, 湖南人) is who
asks, not what is asked about, and is left out; a letter that names other places in its story
asks about those of its asking clauses. Districts are not listed: the document's
city is what decides.

The gazetteer is data (data/index/places.tsv): a province, then its prefecture-level cities.
"""
from __future__ import annotations

import functools
import pathlib
import re

from index.filters import NATIONWIDE
from index.query import ASKING_RE, CLAUSE_RE

PLACES_FILE = pathlib.Path(__file__).resolve().parent.parent / "data" / "index" / "places.tsv"
# Around a place: it says where the writer is from (户口在河南, 我是湖南人, 我係香港后生), not
# what is asked about; 广州户口 stays (a local registration is what a local rule asks for),
# and so do 广州人社局, 人民政府, 人才.
ORIGIN_BEFORE = re.compile(r"((户口|户籍|老家|籍贯|原籍|来自|出生)[在是于的]?(本地|那边)?"
                           r"|我[们哋]?(是|係|系))$")
ORIGIN_AFTER = re.compile(r"^(籍|老家|人(?![民大才力口社事]))")
CONTEXT = 6


class Gazetteer:
    def __init__(self, province_of: dict[str, str]):
        self.province_of = province_of     # every name (province or city) → its province
        self._pattern = re.compile("|".join(
            re.escape(name) for name in sorted(province_of, key=len, reverse=True)))

    @classmethod
    def load(cls, path: pathlib.Path = PLACES_FILE) -> Gazetteer:
        province_of: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            province, _, cities = line.partition("\t")
            province_of[province.strip()] = province.strip()
            province_of.update({city: province.strip() for city in cities.split()})
        return cls(province_of)

    def named(self, text: str) -> set[str]:
        return {m.group(0) for m in self._pattern.finditer(text)}

    def asked(self, question: str) -> frozenset[str]:
        """The places the question names, except those it names as the writer's origin; of
        a letter that asks in some clauses, those its asking clauses name (「听说跟广州不一样。
        请问深圳积分入户要多少分？」 asks about 深圳)."""
        asking_spans = [m.span() for m in CLAUSE_RE.finditer(question) if ASKING_RE.search(m.group(0))]
        named, in_asking = set(), set()
        for match in self._pattern.finditer(question):
            before = question[max(0, match.start() - CONTEXT):match.start()]
            after = question[match.end():match.end() + CONTEXT]
            if ORIGIN_BEFORE.search(before) or ORIGIN_AFTER.search(after):
                continue
            named.add(match.group(0))
            if any(start <= match.start() < end for start, end in asking_spans):
                in_asking.add(match.group(0))
        return frozenset(in_asking or named)

    def elsewhere(self, asked: frozenset[str], region: str | None) -> bool:
        """The question asks about places and this region (a local document's) covers none:
        not the same province or city, nor, for a province-wide document, a city of it."""
        if not asked or region in NATIONWIDE:
            return False
        covered = self.named(region or "")
        if not covered:
            return False  # a region the gazetteer does not know: no evidence either way
        province_wide = all(self.province_of[name] == name for name in covered)
        return not any(place in covered or (province_wide and self.province_of[place] in covered)
                       for place in asked)


@functools.cache
def default() -> Gazetteer:
    return Gazetteer.load()
