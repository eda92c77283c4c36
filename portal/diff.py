"""新旧政策差异: the old and the new version side by side, aligned by article or heading.

A unit starts at a line that opens with an article or heading label (第X章, 第X条, 一、,
（一）, 1.) and runs to the next; units are paired by label (第三条 with 第三条), so a
renumbered or inserted article shows as added or removed instead of shifting every row.
Inside a changed pair, the differing characters are marked. Text without such headings is
aligned paragraph by paragraph. Pure: no I/O.
"""
from __future__ import annotations

import dataclasses
import difflib
import re

HEADING = re.compile(r"^\s*(第[一二三四五六七八九十百千零〇\d]+[编章节条]|[一二三四五六七八九十]+、|"
                     r"[（(][一二三四五六七八九十]+[)）]|\d{1,2}[.．、](?!\d))")


@dataclasses.dataclass(frozen=True)
class Row:
    label: str
    status: str  # same | changed | added | removed
    old: list  # segments: (text, marked)
    new: list


def compare(old_text: str, new_text: str) -> list[Row]:
    old_units, new_units = units(old_text), units(new_text)
    if not _has_headings(old_units) or not _has_headings(new_units):
        return _by_paragraph(old_text, new_text)
    old_by_label = dict(old_units)
    rows, seen = [], set()
    for label, new in new_units:
        old = old_by_label.get(label)
        if old is not None and label not in seen:
            seen.add(label)
            rows.append(_pair(label, old, new))
        else:
            rows.append(Row(label, "added", [], [(new, True)]))
    removed = [Row(label, "removed", [(old, True)], []) for label, old in old_units if label not in seen]
    return _insert_removed(rows, removed, [label for label, _ in old_units])


def units(text: str) -> list[tuple[str, str]]:
    """(label, text) per article or heading; text before the first heading is labelled 开头."""
    result: list[list[str]] = []
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        match = HEADING.match(line)
        if match or not result:
            result.append([match.group(1) if match else "开头", line])
        else:
            result[-1][1] += "\n" + line
    return _unique_labels([(label, body) for label, body in result])


def _unique_labels(pairs):
    """一、 repeats under each chapter: qualify repeats with the preceding label."""
    counts, out = {}, []
    for label, body in pairs:
        counts[label] = counts.get(label, 0) + 1
        out.append((label if counts[label] == 1 else f"{label}#{counts[label]}", body))
    return out


def _has_headings(pairs) -> bool:
    return sum(1 for label, _ in pairs if label != "开头") >= 2


def _pair(label: str, old: str, new: str) -> Row:
    if old == new:
        return Row(label, "same", [(old, False)], [(new, False)])
    old_segments, new_segments = marked_segments(old, new)
    return Row(label, "changed", old_segments, new_segments)


def marked_segments(old: str, new: str):
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    old_out, new_out = [], []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if a2 > a1:
            old_out.append((old[a1:a2], op != "equal"))
        if b2 > b1:
            new_out.append((new[b1:b2], op != "equal"))
    return old_out, new_out


def _insert_removed(rows: list[Row], removed: list[Row], old_order: list[str]) -> list[Row]:
    """Put each removed unit after the row of the old unit that preceded it."""
    for row in removed:
        index = old_order.index(row.label)
        before = old_order[index - 1] if index else None
        fallback = 0 if before is None else len(rows)
        at = next((i + 1 for i, r in enumerate(rows) if r.label == before), fallback)
        rows.insert(at, row)
    return rows


def _by_paragraph(old_text: str, new_text: str) -> list[Row]:
    old_lines = [line.strip() for line in old_text.splitlines() if line.strip()]
    new_lines = [line.strip() for line in new_text.splitlines() if line.strip()]
    rows = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            rows += [Row(f"段{b1 + i + 1}", "same", [(line, False)], [(line, False)])
                     for i, line in enumerate(new_lines[b1:b2])]
        elif op == "replace" and a2 - a1 == b2 - b1:
            rows += [_pair(f"段{b1 + i + 1}", o, n)
                     for i, (o, n) in enumerate(zip(old_lines[a1:a2], new_lines[b1:b2], strict=False))]
        else:
            rows += [Row(f"原段{a1 + i + 1}", "removed", [(line, True)], [])
                     for i, line in enumerate(old_lines[a1:a2])]
            rows += [Row(f"段{b1 + i + 1}", "added", [], [(line, True)])
                     for i, line in enumerate(new_lines[b1:b2])]
    return rows
