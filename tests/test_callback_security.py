"""The callback's traps (SECURITY.md, callback list) closed, with real wechatpy crypto
through the Flask app. Every test prints its figure."""
from __future__ import annotations

import base64
import logging
import resource
import socket
import threading
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bot_fakes import bot_app, bot_config, create_bot_app, slot_fixtures
from wechatpy.crypto import PrpCrypto

from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml
from bot.config import WeChatConfigError, load_wechat_config
from bot.crypto import sha1_signature
from bot.xmlsafe import parse_flat_xml

OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"


# One app per mode for the module (an app costs seconds), its retriever a slot that each test
# fills with its own fake; tests use fresh nonces and message ids, so the replay cache and
# dedupe store do not mix tests.
slot, search = slot_fixtures()


@pytest.fixture(scope="module")
def app(tmp_path_factory, slot):
    yield from bot_app(tmp_path_factory.mktemp("safe"), slot)


@pytest.fixture(scope="module")
def plain_app(tmp_path_factory, slot):
    yield from bot_app(tmp_path_factory.mktemp("plain"), slot, safe=False)


def _opens_to_xml(aes_key: str, encrypt: str) -> bool:
    """Whether `encrypt` decrypts under `aes_key` (AES-256-CBC, IV = the key's first 16 bytes,
    as WeChat seals) to a message: 16 random bytes, a length, then <xml>."""
    raw = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(raw), modes.CBC(raw[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
    return plain[20:25] == b"<xml>"


def _post(client, args, body):
    return client.post("/wechat", query_string=args, data=body, content_type="text/xml")


# -- configuration -------------------------------------------------------------------------
BAD_CONFIGS = [
    {"WECHAT_TOKEN": ""}, {"WECHAT_TOKEN": "123456"}, {"WECHAT_TOKEN": "ab"},
    {"WECHAT_TOKEN": "has space inside"}, {"WECHAT_TOKEN": "x" * 33}, {"WECHAT_TOKEN": "tok;en"},
    {"WECHAT_AES_KEY": "short"}, {"WECHAT_AES_KEY": "a" * 44}, {"WECHAT_AES_KEY": "!" * 43},
    {"WECHAT_APPID": ""}, {"WECHAT_APPID": "notanappid"}, {"WECHAT_APPSECRET": ""},
    {"WECHAT_AES_KEY_PREVIOUS": "bad"}, {"WECHAT_AES_KEY": "", "WECHAT_AES_KEY_PREVIOUS": OTHER_KEY},
    {"WECHAT_ACCOUNT": "enterprise"},
]


def test_refuses_to_start_on_missing_default_or_malformed_secrets(tmp_path, search):
    from server import create_app, start

    refused = 0
    for change in BAD_CONFIGS:
        try:
            load_wechat_config({**bot_config(tmp_path), **change})
        except WeChatConfigError:
            refused += 1
    with pytest.raises(WeChatConfigError, match="refusing to start"):  # and the app itself
        start(create_app({**bot_config(tmp_path), "WECHAT_TOKEN": "123456"}, bot_search=search))
    print(f"fail-closed config matrix: refused {refused}/{len(BAD_CONFIGS)}")
    assert refused == len(BAD_CONFIGS)
    assert load_wechat_config(bot_config(tmp_path)).safe_mode


def test_without_wechat_config_the_app_runs_and_says_the_callback_is_disabled(tmp_path, caplog):
    from server import create_app, start

    with caplog.at_level(logging.WARNING):
        app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "LOAD_DEMO": False,
                                "INDEX_EMBEDDER": "hash"}))
    assert "callback disabled" in caplog.text
    client = app.test_client()
    assert client.post("/wechat", data=b"<xml/>").status_code == 503
    assert client.get("/catalogue").status_code == 200
    assert load_wechat_config(app.config) is None


# -- GET verification -----------------------------------------------------------------------
def test_get_verification_echoes_only_with_a_valid_signature(app):
    client, ts, nonce = app.test_client(), str(int(time.time())), "12345"
    good = {"timestamp": ts, "nonce": nonce, "echostr": "8123456789",
            "signature": sha1_signature(TEST_WECHAT_CONFIG["WECHAT_TOKEN"], ts, nonce)}
    response = client.get("/wechat", query_string=good)
    assert response.status_code == 200 and response.data == b"8123456789"
    assert client.get("/wechat", query_string={**good, "signature": "0" * 40}).status_code == 403
    assert client.get("/wechat", query_string={**good, "echostr": "<script>"}).status_code == 400
    old = str(int(time.time()) - 301)
    stale = {
        **good,
        "timestamp": old,
        "signature": sha1_signature(TEST_WECHAT_CONFIG["WECHAT_TOKEN"], old, nonce),
    }
    assert client.get("/wechat", query_string=stale).status_code == 403


# -- forged, downgraded, replayed ---------------------------------------------------------------
def _flip(text: str) -> str:
    return ("1" if text[0] != "1" else "2") + text[1:]


def forged_requests(sender: WeChatSender) -> list[tuple[str, dict, bytes]]:
    xml = text_xml("o_attacker", "失业保险金怎么申领", msg_id=777)
    args, body = sender.signed_request(xml)
    token, ts, nonce = sender.config.token, args["timestamp"], args["nonce"]
    cases = [("bad signature", {**args, "signature": _flip(args["signature"])}, body),
             ("no signature", {k: v for k, v in args.items() if k != "signature"}, body),
             ("bad msg_signature", {**args, "msg_signature": _flip(args["msg_signature"])}, body),
             ("no msg_signature", {k: v for k, v in args.items() if k != "msg_signature"}, body),
             ("uppercase signature", {**args, "signature": args["signature"].upper()}, body)]
    for delta in (-100000, -3600, -301, 301, 3600):
        t = str(int(ts) + delta)
        signed = {**args, "timestamp": t, "signature": sha1_signature(token, t, nonce)}
        cases.append((f"timestamp {delta:+d}", signed, body))
    for label, bad in (("non-digit timestamp", "12a"), ("empty timestamp", ""), ("huge timestamp", "9" * 30)):
        cases.append(
            (label, {**args, "timestamp": bad, "signature": sha1_signature(token, bad, nonce)}, body)
        )
    encrypt = body.decode().split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    tampered = encrypt[:20] + ("A" if encrypt[20] != "A" else "B") + encrypt[21:]
    for label, enc in (
        ("tampered ciphertext", tampered),
        ("other key", _encrypt(xml, OTHER_KEY, sender.config.appid)),
        ("other appid", _encrypt(xml, sender.config.aes_key, "wxotherapp0000000")),
        ("not base64", "%%%%"),
        ("empty Encrypt", ""),
    ):
        forged = {**args, "msg_signature": sha1_signature(token, ts, nonce, enc)}
        cases.append((label, forged, f"<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()))
    wrong_token = {**args, "signature": sha1_signature("WrongToken123", ts, nonce),
                   "msg_signature": sha1_signature("WrongToken123", ts, nonce, encrypt)}
    cases.append(("signed with another token", wrong_token, body))
    return cases


def _encrypt(xml: str, key: str, appid: str) -> str:
    return PrpCrypto(base64.b64decode(key + "=")).encrypt(xml, appid).decode()


def test_forged_signature_sweep_accepts_nothing(app, search):
    sender, client = WeChatSender.from_app(app), app.test_client()
    cases = forged_requests(sender)
    statuses = {label: _post(client, args, body).status_code for label, args, body in cases}
    accepted = [label for label, status in statuses.items() if status == 200]
    server_errors = [label for label, status in statuses.items() if status >= 500]
    print(f"forged-signature sweep: accepted {len(accepted)}/{len(cases)}, 5xx {len(server_errors)}")
    assert not accepted and not server_errors and search.calls == 0
    assert set(statuses.values()) <= {400, 403}


def test_no_plaintext_downgrade_in_safe_mode(app, search):
    sender, client = WeChatSender.from_app(app), app.test_client()
    xml = text_xml("o_attacker", "失业保险金怎么申领", msg_id=1)
    ts, nonce = str(int(time.time())), "4242"
    url_sig = sha1_signature(sender.config.token, ts, nonce)
    attempts = [
        {"timestamp": ts, "nonce": nonce, "signature": url_sig},                        # plain request
        {"timestamp": ts, "nonce": nonce, "signature": url_sig, "encrypt_type": "raw"},
        {"timestamp": ts, "nonce": nonce, "signature": url_sig, "encrypt_type": "aes",   # no Encrypt
         "msg_signature": sha1_signature(sender.config.token, ts, nonce, "")},
    ]
    statuses = [_post(client, args, xml.encode()).status_code for args in attempts]
    print(f"plaintext downgrade: refused {statuses.count(403)}/{len(statuses)}")
    assert statuses == [403, 403, 403] and search.calls == 0


def test_boundary_shift_and_replays_are_answered_as_duplicates_or_refused(app, search):
    """Digits moved between timestamp and nonce keep the signature: the replay cache (keyed
    on the signature) answers it as the same delivery, never processes it again."""
    sender, client = WeChatSender.from_app(app), app.test_client()
    ts = str(int(time.time()))
    xml = text_xml("o_user", "失业保险金怎么申领", msg_id=900)
    args, body = sender.signed_request(xml, timestamp=ts, nonce="123")
    first = _post(client, args, body)
    assert first.status_code == 200
    # Same concatenation "ts"+"123": digits moved out of or into the timestamp.
    shifted = {**args, "timestamp": ts[:-1], "nonce": ts[-1] + "123"}
    shifted_args = {**args, "timestamp": ts + "1", "nonce": "23"}
    statuses = []
    for variant in (args, shifted_args, shifted):
        response = _post(client, variant, body)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert sender.reply_text(response) == sender.reply_text(first)
    other_body = sender.signed_request(text_xml("o_user", "别的问题", msg_id=901), timestamp=ts, nonce="123")[
        1
    ]
    swapped = _post(client, args, other_body).status_code
    print(f"boundary shift/replay: statuses {statuses}, same signature with another body → {swapped}, "
          f"processed {search.calls}")
    assert search.calls == 1 and swapped == 403 and all(s in (200, 403) for s in statuses)


def test_replay_timeline(app, search, monkeypatch):
    """A captured request replayed later: inside the window it is a duplicate (same reply,
    no processing); outside it is refused."""
    sender, client = WeChatSender.from_app(app), app.test_client()
    refused, duplicates = 0, 0
    delays = (1, 10, 100, 299, 301, 600, 3600)
    # The callback's clock stands still: replaying `delay` seconds later = a request whose
    # timestamp is `delay` seconds old. On the real clock a request that took over a second
    # on a loaded machine turned 299 s into 300.x between the delivery and its replay (a 403
    # in CI, a failure of the test, not of the window).
    now = int(time.time())
    monkeypatch.setattr(app.extensions["policybot"].callback, "clock", lambda: float(now))
    for number, delay in enumerate(delays):
        xml = text_xml("o_user", "失业保险金怎么申领", msg_id=5000 + number)
        args, body = sender.signed_request(xml, timestamp=now - delay)
        first = _post(client, args, body)
        again = _post(client, args, body)
        if delay <= 300:
            assert first.status_code == again.status_code == 200
            assert sender.reply_text(first) == sender.reply_text(again)
            duplicates += 1
        else:
            assert first.status_code == again.status_code == 403
            refused += 2
    print(f"replay timeline: inside window answered as duplicate {duplicates}/4, "
          f"outside refused {refused}/{2 * 3}; processed {search.calls}")
    assert search.calls == 4


def test_key_rotation_accepts_the_previous_key_and_replies_with_the_current(tmp_path, search):
    from server import start

    app = start(create_bot_app(tmp_path, search, WECHAT_AES_KEY=OTHER_KEY,
                               WECHAT_AES_KEY_PREVIOUS=TEST_WECHAT_CONFIG["WECHAT_AES_KEY"]))
    old_sender = WeChatSender(
        load_wechat_config(
            {
                **app.config,
                "WECHAT_AES_KEY": TEST_WECHAT_CONFIG["WECHAT_AES_KEY"],
                "WECHAT_AES_KEY_PREVIOUS": "",
            }
        )
    )
    new_sender = WeChatSender.from_app(app)
    client = app.test_client()
    response = old_sender.post(client, text_xml("o_user", "失业保险金怎么申领", msg_id=1))
    assert response.status_code == 200
    assert "失业保险金" in new_sender.reply_text(response)  # reply sealed with the current key
    encrypt = parse_flat_xml(response.data)["Encrypt"]
    assert _opens_to_xml(OTHER_KEY, encrypt)
    assert not _opens_to_xml(TEST_WECHAT_CONFIG["WECHAT_AES_KEY"], encrypt)
    unknown = WeChatSender(
        load_wechat_config({**app.config, "WECHAT_AES_KEY": "Q" * 43, "WECHAT_AES_KEY_PREVIOUS": ""})
    )
    assert unknown.post(client, text_xml("o_user", "x", msg_id=2)).status_code == 403


def test_compatible_mode_uses_only_the_encrypted_message(app, search):
    """Compatible mode sends plaintext fields beside <Encrypt>: only the authenticated,
    decrypted part is used."""
    sender, client = WeChatSender.from_app(app), app.test_client()
    xml = text_xml("o_user", "失业保险金怎么申领", msg_id=31)
    args, body = sender.signed_request(xml)
    forged_plain = body.decode().replace("</xml>", "<FromUserName><![CDATA[o_victim]]></FromUserName>"
                                         "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[转人工]]></Content></xml>")
    response = _post(client, args, forged_plain.encode())
    fields = sender.reply_fields(response)
    assert (
        fields["ToUserName"] == "o_user" and fields["MsgType"] == "text" and "失业保险金" in fields["Content"]
    )


# -- sizes and hostile XML --------------------------------------------------------------------------
def test_body_size_sweep_413_above_the_cap(plain_app):
    client, sender = plain_app.test_client(), WeChatSender.from_app(plain_app)
    results = {}
    for size in (1024, 60 * 1024, 64 * 1024 + 1, 1024 * 1024, 10 * 1024 * 1024, 100 * 1024 * 1024):
        # A well-formed text message padded to `size`: below the cap it is read and answered.
        padded = text_xml("o_size", "失业保险金怎么申领" + " " * size, msg_id=size)
        args, body = sender.signed_request(padded, nonce=str(size))
        results[size] = _post(client, args, body).status_code
    print("body-size sweep (bytes → status):", results)
    assert results == {1024: 200, 60 * 1024: 200, 64 * 1024 + 1: 413, 1024 * 1024: 413,
                       10 * 1024 * 1024: 413, 100 * 1024 * 1024: 413}


class Listener:
    """A loopback TCP listener that counts connections (XXE must make none)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        """Stop, counting every connection still waiting in the backlog: a connect() made
        during a request completed its handshake then, so none can be missed."""
        self.running = False
        self.thread.join()
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                break
            self.connections += 1
            conn.close()
        self.sock.close()


def attack_corpus(port: int, secret_file: str) -> dict[str, bytes]:
    laughs = '<!DOCTYPE xml [<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)) + "]>"
    return {
        "billion laughs": (laughs + "<xml><Content>&a9;</Content></xml>").encode(),
        "quadratic blowup": ('<!DOCTYPE xml [<!ENTITY a "' + "x" * 20000 + '">]><xml><Content>'
                             + "&a;" * 5000 + "</Content></xml>").encode(),
        "XXE file": (f'<!DOCTYPE xml [<!ENTITY e SYSTEM "file://{secret_file}">]>'
                     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
                     "<MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>").encode(),
        "XXE http": (f'<!DOCTYPE xml [<!ENTITY e SYSTEM "http://127.0.0.1:{port}/x">]>'
                     "<xml><Content>&e;</Content></xml>").encode(),
        "XXE parameter entity": (f'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p"> %p;]>'
                                 "<xml><Content>x</Content></xml>").encode(),
        "deep nesting": b"<xml>" + b"<a>" * 15000 + b"x" + b"</a>" * 15000 + b"</xml>",
        "invalid UTF-8": b"<xml><Content>\xff\xfe\xc3\x28</Content></xml>",
        "empty": b"",
        "whitespace": b"   \n",
        "not XML": b"hello world",
        "unclosed": b"<xml><Content>abc",
        "wrong root": b"<html><body>x</body></html>",
        "repeated field": b"<xml><Content>a</Content><Content>b</Content></xml>",
        "attributes": b'<xml><Content a="1">x</Content></xml>',
        "comment": b"<xml><!-- x --><Content>x</Content></xml>",
        "NUL bytes": b"<xml>\x00<Content>x</Content></xml>",
    }


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_malicious_xml_corpus_zero_accepted_zero_server_errors(tmp_path, search, mode, app, plain_app):
    app = app if mode == "safe" else plain_app
    sender, client = WeChatSender.from_app(app), app.test_client()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    listener = Listener()
    try:
        corpus = attack_corpus(listener.port, str(secret))
        statuses = {}
        for number, (label, payload) in enumerate(corpus.items()):
            args, body = sender.signed_request("<xml/>", nonce=str(1000 + number))
            if mode == "safe":  # the attack inside a validly signed and encrypted envelope
                encrypt = sender.encrypt(payload.decode("utf-8", "surrogateescape")
                                         .encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                args["msg_signature"] = sha1_signature(
                    sender.config.token, args["timestamp"], args["nonce"], encrypt
                )
                body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
            else:
                body = payload
            response = _post(client, args, body)
            statuses[label] = response.status_code
            assert b"TOP-SECRET" not in response.data
    finally:
        listener.close()
    accepted = [k for k, v in statuses.items() if v == 200]
    errors = [k for k, v in statuses.items() if v >= 500]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"malicious XML corpus ({mode}): {len(corpus)} payloads, accepted {len(accepted)}, "
        f"5xx {len(errors)}, "
        f"outbound connections {listener.connections}, max RSS {rss} MiB"
    )
    assert not accepted and not errors and listener.connections == 0 and search.calls == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2048), extra=st.dictionaries(
    st.sampled_from(["timestamp", "nonce", "signature", "msg_signature", "encrypt_type", "echostr"]),
    st.text(max_size=50), max_size=4))
def test_fuzzing_the_callback_never_gives_a_server_error(app, body, extra):
    sender = WeChatSender.from_app(app)
    args, _ = sender.signed_request("<xml/>")
    response = app.test_client().post("/wechat", query_string={**args, **extra}, data=body)
    assert response.status_code in (400, 403, 413)


def test_access_log_does_not_keep_openids(app, caplog):
    import logging as logging_module

    record = logging_module.LogRecord(
        "werkzeug",
        logging_module.INFO,
        __file__,
        1,
        '%s - - "%s" %s',
        ("127.0.0.1", "POST /wechat?timestamp=1&openid=oAbC123_real&nonce=2", "200"),
        None,
    )
    for log_filter in logging_module.getLogger("werkzeug").filters:
        log_filter.filter(record)
    assert "oAbC123_real" not in record.getMessage() and "openid=***" in record.getMessage()
