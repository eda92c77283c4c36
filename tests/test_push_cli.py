"""The push commands through the Flask CLI, on an app wired like production."""
import pytest

from bot.push.bulk import add_subscribers
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_policy


@pytest.fixture
def wired(tmp_path, fake_wechat):
    from server import create_app, start

    app = start(create_app({
        "TESTING": True, "DATA_DIR": str(tmp_path / "instance"), "LOAD_DEMO": False,
        "INDEX_EMBEDDER": "hash", "INDEX_BACKGROUND": False,
        "WECHAT_TOKEN": "Tok3nForTests9x", "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "WECHAT_APPID": fake_wechat.appid, "WECHAT_APPSECRET": fake_wechat.secret,
        "WECHAT_API_BASE": fake_wechat.url, "WECHAT_TIMEOUT": "1,1", "PUSH_TEMPLATE_ID": "TPL",
        "PUSH_RATES": {"template": 0}}))
    yield app
    app.extensions["policybot"].db.dispose()


def publish(releases, policy):
    release_id = releases.create(DRAFTER, policy)
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "无涉密")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    return release_id


def test_preview_run_and_stats(wired, fake_wechat):
    svc = wired.extensions["policybot"]
    add_subscribers(svc.db, svc.subscribers.cipher,
                    [{"openid": f"oCLI{i:024d}", "tags": [("就业创业", "topic")]} for i in range(3)])
    release_id = publish(svc.releases, make_policy("p-cli"))
    runner = wired.test_cli_runner()
    preview = runner.invoke(args=["push", "preview", str(release_id)])
    assert "3 subscriber(s) match" in preview.output and "您订阅了「就业创业」" in preview.output
    run = runner.invoke(args=["push", "run", "--name", "cli-sender"])
    assert run.exit_code == 0 and "sent 3" in run.output, run.output
    stats = runner.invoke(args=["push", "stats", str(release_id)])
    assert "sent=3" in stats.output and "matched=3" in stats.output
    assert len(fake_wechat.delivered()) == 3


def test_run_refuses_without_a_template_id(wired):
    wired.extensions["policybot"].push.settings.template_id = None
    result = wired.test_cli_runner().invoke(args=["push", "run"])
    assert result.exit_code == 1 and "PUSH_TEMPLATE_ID" in result.output
