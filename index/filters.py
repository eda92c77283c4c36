"""Which documents a search may return: by default only what is in force today; with
`include_expired` everything published (each hit labelled with its status); narrowed by
audience, topic, region, issuing body, and to given releases (a policy and the
interpretations explaining it: the bot asks what the previous answer's release says)."""
from __future__ import annotations

import dataclasses
import datetime as dt

from index.records import DocMeta
from policies.status import Validity

NATIONWIDE = ("全国", "", None)


@dataclasses.dataclass(frozen=True)
class Filters:
    today: dt.date
    include_expired: bool = False
    audience: str | None = None
    topic: str | None = None
    region: str | None = None
    issuing_body: str | None = None
    releases: frozenset[str] | None = None

    def admits(self, doc: DocMeta, validity: Validity) -> bool:
        """`validity`: the document's standing (an interpretation's is its policy's)."""
        if not self.include_expired and not validity.in_force(self.today):
            return False
        if self.releases is not None and doc.id not in self.releases \
                and doc.interprets not in self.releases:
            return False
        if self.audience and self.audience not in doc.audience:
            return False
        if self.topic and self.topic not in doc.topics:
            return False
        if self.issuing_body and self.issuing_body not in (doc.issuing_body or ""):
            return False
        return self._region_ok(doc.region)

    def _region_ok(self, doc_region: str | None) -> bool:
        """A document for 广东省 applies in 广东省广州市; one for 全国 applies everywhere."""
        if not self.region or doc_region in NATIONWIDE:
            return True
        return self.region.startswith(doc_region) or doc_region.startswith(self.region)
