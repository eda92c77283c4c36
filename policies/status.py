"""A document's standing on a given day, and the words for it: the one rule every surface
uses (the bot's answer header and related documents, the H5 pages, the catalogue, push).

An interpretation takes its policy's status and dates: a 解读 of a repealed 办法 explains
something no longer in force, whatever its own record says (三同步: the two are released
together, but the policy alone is amended, runs out or is repealed afterwards).

Dates may come as `date` or as ISO strings (the index keeps ISO strings).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

from policies.titles import book_title

STATUS_WORDS = {"effective": "现行有效", "expired": "已失效", "repealed": "已废止", "amended": "已被修订"}


class HasValidity(Protocol):
    # Read-only members: frozen dataclasses (Document, Hit) meet them, with a date or its
    # ISO text.
    @property
    def status(self) -> str: ...
    @property
    def valid_from(self) -> dt.date | str | None: ...
    @property
    def valid_until(self) -> dt.date | str | None: ...


@dataclasses.dataclass(frozen=True)
class Validity:
    status: str                      # effective | expired | repealed | amended
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @classmethod
    def of(cls, doc: HasValidity, policy: HasValidity | None = None) -> Validity:
        """`doc`'s own validity, or for an interpretation (give its `policy`) the policy's."""
        source = policy if policy is not None else doc
        return cls(source.status, _date(source.valid_from), _date(source.valid_until))

    def state(self, today: dt.date) -> str:
        """upcoming | in_force | run_out (effective, but past its end date) | the status."""
        if self.status != "effective":
            return self.status
        if self.valid_from and self.valid_from > today:
            return "upcoming"
        if self.valid_until and self.valid_until < today:
            return "run_out"
        return "in_force"

    def in_force(self, today: dt.date) -> bool:
        """现行有效 on `today`: status effective and inside the validity window."""
        return self.state(today) == "in_force"

    def word(self, today: dt.date, successor_title: str | None = None) -> str:
        """尚未施行（…起施行） / 现行有效（有效期至…） / 已失效（有效期至…） / 已废止 /
        已被修订（见《…》）."""
        state = self.state(today)
        until = f"（有效期至{self.valid_until.isoformat()}）" if self.valid_until else ""
        if state == "upcoming" and self.valid_from:
            return f"尚未施行（{self.valid_from.isoformat()}起施行）"
        if state == "in_force":
            return "现行有效" + until
        if state in ("run_out", "expired"):
            return "已失效" + until
        if state == "amended" and successor_title:
            return f"已被修订（见{book_title(successor_title)}）"
        return STATUS_WORDS.get(state, "已失效")


def _date(value: dt.date | str | None) -> dt.date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
