"""How staff pages show codes and times: template filters and globals for every template
of the app (the portal's own, the reports', the push pages').

    {{ r.state|label('release_state') }}   → 待审核        (interpretations.labels)
    {{ f.part|part_label }}                → 原文件的批注
    {{ r.published_at|local_time }}        → 2026-11-20 17:28 in the instance's time zone
    {{ tz_label() }}                       → 北京时间
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

from flask import current_app

from interpretations.labels import label, label_properties, part_label
from policies.validity import DEFAULT_TIMEZONE
from portal.blueprint import bp

# Names people use for the time zones of Chinese governments; any other zone shows its offset.
ZONE_NAMES = {"Asia/Shanghai": "北京时间", "Asia/Chongqing": "北京时间", "Asia/Harbin": "北京时间",
              "Asia/Urumqi": "乌鲁木齐时间", "Asia/Hong_Kong": "香港时间", "Asia/Macau": "澳门时间"}


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(current_app.config.get("TIMEZONE") or DEFAULT_TIMEZONE)


def to_local(value: dt.datetime | str | None) -> dt.datetime | None:
    """A stored moment in the instance's zone. Naive values are UTC: SQLite returns the
    UTC datetimes it was given without their zone, and the audit log keeps ISO strings."""
    if value in (None, ""):
        return None
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(_zone())


@bp.app_template_filter("local_time")
def local_time(value, seconds: bool = False) -> str:
    moment = to_local(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") if moment else ""


@bp.app_template_global("tz_label")
def tz_label() -> str:
    zone = _zone()
    if zone.key in ZONE_NAMES:
        return ZONE_NAMES[zone.key]
    offset = dt.datetime.now(zone).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


@bp.app_template_filter("label")
def label_filter(code: str | None, kind: str) -> str:
    return label(kind, code)


@bp.app_template_filter("file_properties")
def file_properties_filter(text: str) -> str:
    return label_properties(text or "")


@bp.app_template_filter("part_label")
def part_label_filter(part: str) -> str:
    return part_label(part)
