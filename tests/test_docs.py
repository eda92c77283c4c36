"""The README against the code: every setting the code reads is in the configuration table, and
every command the README shows exists with the options it shows."""
from __future__ import annotations

import re

import click
import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKAGES = ["policies", "interpretations", "index", "bot", "commands", "portal", "insights", "serving"]
# A setting read from the app's configuration: config.get("KEY"), config["KEY"] (not an
# assignment), _value(config, "KEY"), or a ("KEY", attribute, …) row of a settings loop.
READ = re.compile(r"""config(?:\.get\(\s*|\[)["']([A-Z][A-Z0-9_]+)["'](?!\]\s*=[^=])"""
                  r"""|_value\(\s*\w+,\s*["']([A-Z][A-Z0-9_]+)["']"""
                  r"""|\(\s*["']((?:PUSH|INSIGHTS|BOT|INDEX|WECHAT|STAFF)_[A-Z0-9_]+)["'],\s*["']""")
# Read from the configuration but no setting of the software's: Flask's test mode.
NOT_SETTINGS = {"TESTING"}
PLAIN = ("DATABASE_URL", "REDIS_URL")


def settings_read() -> dict[str, str]:
    found: dict[str, str] = {}
    paths = [ROOT / "server.py"] + [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    for path in paths:
        for match in READ.finditer(path.read_text(encoding="utf-8")):
            key = next(group for group in match.groups() if group)
            found.setdefault(key, str(path.relative_to(ROOT)))
    return found


def configuration_section() -> str:
    return README.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]


def documented_settings(section: str) -> set[str]:
    """Names in the table's first column: `POLICYBOT_X` in full, or a suffix (`_Y`, `..._Y`)
    that replaces the tail of the row's first full name."""
    names: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        spans = re.findall(r"`([^`]+)`", row.split("|")[1])
        full = [s.removeprefix("POLICYBOT_") for s in spans if s.startswith("POLICYBOT_") or s in PLAIN]
        names.update(full)
        if not full:
            continue
        parts = full[0].split("_")
        for span in spans:
            if span.startswith(("_", "..._")):
                tail = span.lstrip("._")
                names.update("_".join(parts[:cut] + [tail]) for cut in range(len(parts)))
    return names


def test_every_setting_the_code_reads_is_in_the_readme_table():
    documented = documented_settings(configuration_section())
    missing = {key: where for key, where in settings_read().items()
               if key not in documented and key not in NOT_SETTINGS}
    assert missing == {}


def test_the_settings_scan_sees_what_it_must():
    """The scan itself can fail: it finds settings read in each of its three ways."""
    read = settings_read()
    assert {"TIMEZONE", "WECHAT_APPID", "PUSH_BATCH", "STAFF_SCRYPT_N"} <= set(read)
    assert "PERMANENT_SESSION_LIFETIME" not in read  # set by the app, not read
    assert "TIMEZONE" not in documented_settings("| `POLICYBOT_HOST` | x | y |")


# -- commands ------------------------------------------------------------------------------
FLASK_COMMAND = re.compile(r"flask --app server ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)([^`\n]*)")
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-z])\b")


def readme_flask_commands() -> list[tuple[str, list[str]]]:
    shown = []
    for match in FLASK_COMMAND.finditer(README):
        words, rest = match.group(1).split(), match.group(2)
        shown.append((words, OPTION.findall(rest)))
    return shown


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    from server import create_app, start

    app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path_factory.mktemp("docs") / "instance"),
                            "LOAD_DEMO": False, "INDEX_EMBEDDER": "hash"}))
    yield app.cli
    app.extensions["policybot"].db.dispose()


def _resolve(group: click.Group, words: list[str]) -> tuple[click.Command | None, list[str]]:
    """The command the words name (a group's subcommand when the second word is one)."""
    command = group.get_command(None, words[0])  # type: ignore[arg-type]
    if isinstance(command, click.Group) and len(words) > 1:
        return command.get_command(None, words[1]), words[2:]  # type: ignore[arg-type]
    return command, words[1:]


def test_every_flask_command_in_the_readme_exists_with_its_options(cli):
    shown = readme_flask_commands()
    assert len(shown) >= 20  # the parser still finds the README's commands
    problems = []
    for words, options in shown:
        if words == ["--help"]:
            continue
        command, _ = _resolve(cli, words)
        if command is None:
            problems.append(f"flask --app server {' '.join(words)}: no such command")
            continue
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        if isinstance(command, click.Group):
            known.add("--help")
        problems += [f"flask --app server {' '.join(words)}: no option {option}"
                     for option in options if option not in known]
    assert problems == []


SCRIPT = re.compile(r"python3? ((?:bench|scripts)/[\w/]+\.py|-m [\w.]+)([^`\n#]*)")


def test_every_script_in_the_readme_exists_with_its_options():
    problems = []
    for match in SCRIPT.finditer(README):
        target, rest = match.group(1), match.group(2)
        if target.startswith("-m "):
            module = target[3:]
            stem = ROOT / module.replace(".", "/")
            candidates = [stem.with_suffix(".py"), stem / "__main__.py"]
            if module == "pytest":
                continue
            path = next((c for c in candidates if c.exists()), None)
        else:
            path = ROOT / target if (ROOT / target).exists() else None
        if path is None:
            problems.append(f"{target}: no such file")
            continue
        source = path.read_text(encoding="utf-8")
        for option in OPTION.findall(rest):
            if f'"{option}"' not in source:
                problems.append(f"{target}: no option {option}")
    assert problems == []
