"""解读率: the share of published major policies in force that carry a published
interpretation, and the list of those that do not (解读缺失). A major policy published to
take effect later (即将施行) counts from its first day in force; until then it is listed
apart, so that nobody wonders why publishing it did not move the rate."""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.engine import Connection

from policies import store
from policies.validity import major_policies_in_force, upcoming


@dataclasses.dataclass(frozen=True)
class Coverage:
    major: int
    interpreted: int
    missing: list  # Documents without interpretation
    upcoming: list = dataclasses.field(default_factory=list)  # (Document, interpreted) not yet in force

    @property
    def rate(self) -> float:
        return self.interpreted / self.major if self.major else 1.0


def interpretation_coverage(conn: Connection, today: dt.date, department: str | None = None) -> Coverage:
    majors = major_policies_in_force(conn, today, department)
    interpreted = store.interpreted_policy_ids(conn)
    missing = [d for d in majors if d.id not in interpreted]
    later = [d for d in upcoming(conn, today) if d.is_major
             and (department is None or store.department_of(conn, d.id) == department)]
    return Coverage(len(majors), len(majors) - len(missing), missing,
                    [(d, d.id in interpreted) for d in later])
