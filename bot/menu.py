"""The custom menu: read from a JSON file and checked against WeChat's limits before any
API call (3 top-level buttons × 5 items; names ≤ 16 bytes top-level, ≤ 60 bytes items;
keys ≤ 128 bytes; URLs ≤ 1024 bytes). `actions` maps each CLICK key to the text the bot
treats as typed by the user (so a menu entry behaves exactly like the question it stands for).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import pathlib

MAX_TOP = 3
MAX_SUB = 5
TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
TYPES = {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
         "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "view_limited",
         "miniprogram"}


class MenuError(ValueError):
    """A menu WeChat would refuse; the message lists every problem."""


@dataclasses.dataclass(frozen=True)
class Menu:
    wechat_payload: dict
    actions: dict[str, str]


def load_menu(path: str | pathlib.Path, public_url: str = "") -> Menu:
    try:
        raw = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MenuError(f"{path}: not JSON ({error})") from None
    return parse_menu(raw, public_url)


def parse_menu(raw: dict, public_url: str = "") -> Menu:
    if not isinstance(raw, dict) or not isinstance(raw.get("button"), list):
        raise MenuError('the menu needs a "button" list')
    actions = raw.get("actions") or {}
    buttons = _with_public_url(copy.deepcopy(raw["button"]), public_url.rstrip("/"))
    problems = menu_problems(buttons, actions)
    if problems:
        raise MenuError("; ".join(problems))
    return Menu({"button": buttons}, dict(actions))


def menu_problems(buttons: list, actions: dict) -> list[str]:
    problems = [] if 1 <= len(buttons) <= MAX_TOP else [f"{len(buttons)} top-level buttons (1–{MAX_TOP})"]
    for number, button in enumerate(buttons, 1):
        if not isinstance(button, dict):
            problems.append(f"button {number} is not an object")
            continue
        problems += _name_problems(button, TOP_NAME_BYTES, f"button {number}")
        subs = button.get("sub_button")
        if subs is None:
            problems += _leaf_problems(button, actions, f"button {number}")
            continue
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            problems.append(f"button {number}: 1–{MAX_SUB} items")
            continue
        for index, sub in enumerate(subs, 1):
            where = f"button {number}.{index}"
            if not isinstance(sub, dict):
                problems.append(f"{where} is not an object")
                continue
            problems += _name_problems(sub, SUB_NAME_BYTES, where) + _leaf_problems(sub, actions, where)
    return problems


def _name_problems(button: dict, limit: int, where: str) -> list[str]:
    name = button.get("name")
    if not isinstance(name, str) or not name.strip():
        return [f"{where}: missing name"]
    size = len(name.encode("utf-8"))
    return [f"{where}: name {name!r} is {size} bytes (≤ {limit})"] if size > limit else []


def _leaf_problems(button: dict, actions: dict, where: str) -> list[str]:
    kind = button.get("type")
    if kind not in TYPES:
        return [f"{where}: unknown type {kind!r}"]
    if kind == "click":
        key = button.get("key")
        if not isinstance(key, str) or not key or len(key.encode("utf-8")) > KEY_BYTES:
            return [f"{where}: click needs a key of 1–{KEY_BYTES} bytes"]
        if not isinstance(actions.get(key), str) or not actions[key].strip():
            return [f"{where}: key {key!r} has no action text in \"actions\""]
    if kind == "view":
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) \
                or len(url.encode("utf-8")) > URL_BYTES:
            return [f"{where}: view needs an http(s) url of ≤ {URL_BYTES} bytes"]
    return []


def _with_public_url(buttons: list, public_url: str) -> list:
    for button in buttons:
        if isinstance(button, dict):
            if isinstance(button.get("url"), str):
                button["url"] = button["url"].replace("{PUBLIC_URL}", public_url)
            if isinstance(button.get("sub_button"), list):
                _with_public_url(button["sub_button"], public_url)
    return buttons
