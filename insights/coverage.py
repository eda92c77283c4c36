"""Interpretation coverage: 解读率 per department (major policies in force that carry a
published interpretation, via interpretations/coverage.py), and per policy the share of the
questions about it that the bot answered from its interpretation (or an official Q&A pair,
cited with source "faq") rather than its raw text."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt

from sqlalchemy.engine import Connection

from bot.questionlog import LoggedQuestion
from insights.documents import document_infos
from interpretations.coverage import interpretation_coverage
from policies import store
from policies.validity import major_policies_in_force

NO_DEPARTMENT = "（未注明）"


@dataclasses.dataclass(frozen=True)
class DepartmentRate:
    department: str
    major: int
    interpreted: int

    @property
    def rate(self) -> float | None:
        return self.interpreted / self.major if self.major else None


@dataclasses.dataclass(frozen=True)
class PolicyCoverage:
    policy_id: str
    title: str
    department: str
    questions: int            # questions whose best citation is the policy or its interpretation
    answered: int
    from_interpretation: int  # answered from an interpretation (or its FAQ) of the policy
    unanswered: int

    @property
    def share(self) -> float | None:
        return self.from_interpretation / self.answered if self.answered else None


def department_rates(conn: Connection, today: dt.date) -> list[DepartmentRate]:
    missing = {d.id for d in interpretation_coverage(conn, today).missing}
    ids = [d.id for d in major_policies_in_force(conn, today)]
    owners = store.owners(conn, ids)
    majors: collections.Counter[str] = collections.Counter()
    interpreted: collections.Counter[str] = collections.Counter()
    for doc_id in ids:
        owner = owners.get(doc_id) or NO_DEPARTMENT
        majors[owner] += 1
        interpreted[owner] += doc_id not in missing
    return [DepartmentRate(d, majors[d], interpreted[d]) for d in sorted(majors)]


def policy_coverage(conn: Connection, questions: list[LoggedQuestion]) -> list[PolicyCoverage]:
    """One row per policy asked about, most asked first."""
    infos = document_infos(conn, (q.cited[0]["doc_id"] for q in questions if q.cited))
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for q in questions:
        info = infos.get(q.cited[0]["doc_id"]) if q.cited else None
        if info:
            row = counts[info.policy_id]
            row["questions"] += 1
            row["answered"] += q.answered
            row["from_interpretation"] += q.answered and _from_interpretation(q.cited[0], info)
    policies = document_infos(conn, counts)
    rows = [_row(pid, policies.get(pid), c) for pid, c in counts.items()]
    return sorted(rows, key=lambda r: (-r.questions, r.policy_id))


def coverage_by_department(rows: list[PolicyCoverage]) -> dict[str, tuple[int, int]]:
    """department → (answered, answered from an interpretation)."""
    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for row in rows:
        totals[row.department][0] += row.answered
        totals[row.department][1] += row.from_interpretation
    return {d: (a, i) for d, (a, i) in sorted(totals.items())}


def _from_interpretation(citation: dict, info) -> bool:
    """An interpretation of the policy, or an official Q&A pair (解读问答), not raw text."""
    return info.kind == "interpretation" or citation.get("source") == "faq"


def _row(policy_id: str, info, c: collections.Counter) -> PolicyCoverage:
    return PolicyCoverage(policy_id, info.title if info else policy_id,
                          (info.department if info else None) or NO_DEPARTMENT, c["questions"],
                          c["answered"], c["from_interpretation"], c["questions"] - c["answered"])
