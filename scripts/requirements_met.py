"""Exit 0 when every requirement given is installed at an allowed version, with everything
those packages need in turn; otherwise print what is missing and exit 1.

    python3 scripts/requirements_met.py torch==2.13.0 -r requirements.txt

scripts/run.sh and scripts/test.sh ask this before calling pip, whose own check of ~200
installed packages takes a minute on these machines. It reads the installed packages'
metadata (importlib.metadata), evaluates environment markers and extras, and follows each
package's own requirements, so a missing or wrong-version dependency anywhere below a
requirement sends the caller to pip. Any doubt (an unreadable line, no `packaging`) means
"not met": pip decides then.
"""
from __future__ import annotations

import importlib.metadata as metadata
import pathlib
import sys


def main(argv: list[str]) -> int:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        print("packaging is not installed: cannot check, pip will", file=sys.stderr)
        return 1
    try:
        wanted = [Requirement(line) for line in _lines(argv)]
    except (InvalidRequirement, OSError) as error:
        print(f"cannot read the requirements ({error}): pip will check", file=sys.stderr)
        return 1
    problems: list[str] = []
    seen: set[tuple[str, frozenset]] = set()
    for requirement in wanted:
        _check(requirement, frozenset(), problems, seen, Requirement)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def _lines(argv: list[str]) -> list[str]:
    """Requirement strings from arguments and `-r FILE` (recursively, relative to the file)."""
    lines, args = [], list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-r":
            lines += _file_lines(pathlib.Path(args.pop(0)))
        else:
            lines.append(arg)
    return lines


def _file_lines(path: pathlib.Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            lines += _file_lines(path.parent / line[3:].strip())
        elif line.startswith("-"):
            raise OSError(f"{path}: option {line!r} is not understood here")
        else:
            lines.append(line)
    return lines


def _check(requirement, parent_extras: frozenset, problems: list, seen: set, Requirement) -> None:
    if requirement.marker is not None and not _marker_holds(requirement.marker, parent_extras):
        return
    key = (requirement.name.lower(), frozenset(requirement.extras))
    if key in seen:
        return
    seen.add(key)
    try:
        dist = metadata.distribution(requirement.name)
    except metadata.PackageNotFoundError:
        problems.append(f"missing: {requirement}")
        return
    if requirement.specifier and not requirement.specifier.contains(dist.version, prereleases=True):
        problems.append(f"{requirement.name} {dist.version} installed, {requirement} wanted")
        return
    for line in dist.requires or []:
        try:
            _check(Requirement(line), frozenset(requirement.extras), problems, seen, Requirement)
        except Exception as error:  # an odd line in someone's metadata: let pip judge
            problems.append(f"{requirement.name}: cannot read its requirement {line!r} ({error})")


def _marker_holds(marker, extras: frozenset) -> bool:
    """True if the marker holds here for no extra or for one of the extras asked for."""
    return any(marker.evaluate({"extra": extra}) for extra in ({""} | set(extras)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
