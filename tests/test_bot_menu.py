"""The menu file is checked against WeChat's limits before any API call."""
from __future__ import annotations

import json

import pytest

from bot.menu import MenuError, load_menu, parse_menu
from commands.bot import DEFAULT_MENU


def test_shipped_menu_is_valid_and_every_click_has_an_action():
    menu = load_menu(DEFAULT_MENU, "https://zc.example.gov.cn")
    buttons = menu.wechat_payload["button"]
    assert len(buttons) <= 3 and all(len(b.get("sub_button", [])) <= 5 for b in buttons)
    assert "actions" not in menu.wechat_payload
    assert buttons[0]["sub_button"][1]["url"] == "https://zc.example.gov.cn/search"


BAD_MENUS = {
    "four top-level buttons": {
        "button": [{"type": "click", "name": "a", "key": "K"}] * 4,
        "actions": {"K": "帮助"},
    },
    "six items": {
        "button": [{"name": "a", "sub_button": [{"type": "click", "name": "b", "key": "K"}] * 6}],
        "actions": {"K": "帮助"},
    },
    "top name 17 bytes": {
        "button": [{"type": "click", "name": "政策查询服务入口", "key": "K"}],
        "actions": {"K": "帮助"},
    },
    "item name 61 bytes": {
        "button": [{"name": "a", "sub_button": [{"type": "click", "name": "字" * 21, "key": "K"}]}],
        "actions": {"K": "帮助"},
    },
    "click without action": {"button": [{"type": "click", "name": "a", "key": "NOPE"}], "actions": {}},
    "view without url": {"button": [{"type": "view", "name": "a"}]},
    "javascript url": {"button": [{"type": "view", "name": "a", "url": "javascript:alert(1)"}]},
    "unknown type": {"button": [{"type": "dance", "name": "a"}]},
    "no buttons": {"button": []},
    "empty sub list": {"button": [{"name": "a", "sub_button": []}]},
    "key too long": {
        "button": [{"type": "click", "name": "a", "key": "K" * 129}],
        "actions": {"K" * 129: "x"},
    },
}


@pytest.mark.parametrize("label", BAD_MENUS)
def test_invalid_menus_are_refused(label):
    with pytest.raises(MenuError):
        parse_menu(BAD_MENUS[label])


def test_create_menu_calls_wechat_once_with_a_valid_menu(tmp_path, fake_wechat):
    from server import create_app, start

    app = start(create_app(
        {
            "TESTING": True,
            "DATA_DIR": str(tmp_path),
            "LOAD_DEMO": False,
            "INDEX_EMBEDDER": "hash",
            "WECHAT_TOKEN": "Tok3nForTests9x",
            "WECHAT_APPID": fake_wechat.appid,
            "WECHAT_APPSECRET": fake_wechat.secret,
            "WECHAT_API_BASE": fake_wechat.url,
        }
    ))
    svc = app.extensions["policybot"]
    if svc.wechat is None:  # the push feature not registered
        from bot.wechat_api import make_client

        svc.wechat = lambda: make_client(app.config, svc.db)
    runner = app.test_cli_runner()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(BAD_MENUS["top name 17 bytes"]), encoding="utf-8")
    refused = runner.invoke(args=["create-menu", "--file", str(bad)])
    assert refused.exit_code == 1 and "menu refused" in refused.output
    assert fake_wechat.calls.get("/cgi-bin/menu/create", 0) == 0
    created = runner.invoke(args=["create-menu"])
    assert created.exit_code == 0, created.output
    assert (
        fake_wechat.calls["/cgi-bin/menu/create"] == 1 and fake_wechat.menu["button"][0]["name"] == "政策查询"
    )
