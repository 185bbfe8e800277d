"""Each built-in notifier against a real receiver on loopback: SMTP with STARTTLS, Slack, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac

from sla_engine.delivery.deliver import deliver
from sla_engine.plugins import notifiers
from tests.delivery.conftest import POLICY, SECRET, evaluated_store, make_policy_set
from tests.engine.test_evaluate import at

NOW = at(17, 11, 30)


def test_the_builtin_notifiers_are_plugins_registered_by_entry_point():
    assert {"email", "slack", "webhook", "stdout"} <= set(notifiers())


def test_email_goes_over_starttls_with_login_and_carries_the_idempotency_key(tmp_path, smtp, http_env):
    store = evaluated_store(tmp_path, leads=2)
    report = deliver(make_policy_set(), store, NOW)
    assert report.errors == []
    mails = {m["To"]: m for m in smtp.messages}
    assert set(mails) == {"rep0@example.com", "rep1@example.com", "cro@example.com"} - {"cro@example.com"}
    assert smtp.tls == [True, True] and smtp.logins[0] == ("mailer", "smtp-pass-123")
    mail = mails["rep0@example.com"]
    key = mail["X-SLA-Engine-Idempotency-Key"]
    assert mail["Message-ID"] == f"<{key}@sla-engine>"
    assert "first_response" in mail["Subject"] and "overdue by" in mail["Subject"]
    html = mail.get_body(("html",)).get_content()
    assert "Lead &lt;0&gt; &amp; Co" in html and "<0>" not in html
    assert "Lead <0> & Co" in mail.get_body(("plain",)).get_content()
    rows = {r["key"]: r for r in store.outbox.rows("sent")}
    assert any(r["idempotency_key"] == key for r in rows.values())


def test_slack_gets_a_block_kit_message_with_escaped_lead_data(tmp_path, smtp, http_env):
    store = evaluated_store(tmp_path, leads=1)
    deliver(make_policy_set(), store, NOW, link_template="https://crm.example.com/leads/{lead_id}")
    slack = [p for p in http_env.posts if p.path == "/slack"]
    assert len(slack) == 1
    body = slack[0].json
    assert body["blocks"][0]["type"] == "header"
    section = body["blocks"][1]["text"]["text"]
    assert "<https://crm.example.com/leads/L0|Lead &lt;0&gt; &amp; Co>" in section
    assert "Acme¦Inc" in section and "overdue by 29m" in section and "rep0@example.com" in section
    assert slack[0].headers["idempotency-key"]


def test_a_slack_item_without_a_link_shows_the_plain_escaped_name(tmp_path, smtp, http_env):
    store = evaluated_store(tmp_path, leads=1)  # no url on the lead and no --link-template
    deliver(make_policy_set(), store, NOW)
    [slack] = [p for p in http_env.posts if p.path == "/slack"]
    section = slack.json["blocks"][1]["text"]["text"]
    assert section.startswith("*Lead &lt;0&gt; &amp; Co* (Acme¦Inc): inbound/first_response *on breach*")
    assert "<|" not in slack.body.decode() and "<" not in section


def test_webhook_is_signed_and_carries_the_idempotency_key(tmp_path, smtp, http_env):
    store = evaluated_store(tmp_path, leads=1)
    deliver(make_policy_set(), store, NOW)
    [hook] = [p for p in http_env.posts if p.path == "/hook"]
    expected = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hook.headers["x-sla-engine-signature"], expected)
    assert hook.headers["idempotency-key"] == hook.json["idempotency_key"]
    assert hook.json["items"][0]["lead_id"] == "L0"
    [row] = [r for r in store.outbox.rows("sent") if r["recipient"] == "webhook:env:TEST_HOOK_URL"]
    assert row["idempotency_key"] == hook.json["idempotency_key"]


def test_a_wrong_smtp_password_is_a_failure_that_never_shows_the_password(tmp_path, smtp, http_env, monkeypatch):
    monkeypatch.setenv("SLA_ENGINE_SMTP_PASSWORD", "wrong-password-xyz")
    monkeypatch.setenv("SLA_ENGINE_SMTP_TIMEOUT", "1")  # smtplib then tries AUTH LOGIN, which aiosmtpd leaves hanging
    store = evaluated_store(tmp_path, leads=1)
    report = deliver(make_policy_set(), store, NOW)
    [failed] = store.outbox.rows("failed")
    assert "SMTP" in failed["last_error"] and "wrong-password-xyz" not in failed["last_error"]
    assert all("wrong-password-xyz" not in e["error"] for e in report.errors)


def test_a_webhook_url_never_appears_in_an_error(tmp_path, smtp, http_env):
    http_env.fail = 10
    store = evaluated_store(tmp_path, leads=1)
    deliver(make_policy_set(), store, NOW)
    errors = [r["last_error"] for r in store.outbox.rows("failed")]
    assert errors and all("HTTP 500" in e and "127.0.0.1" not in e for e in errors)


def test_hostile_lead_data_reaches_mail_and_slack_as_one_safe_line(tmp_path, smtp, http_env):
    """A name with CR/LF once made every mail fail until dead; a javascript: url became a Slack link."""
    store = evaluated_store(tmp_path, leads=1)
    with store.transaction():
        store.conn.execute("UPDATE leads SET state = json_set(state, '$.name', ?, '$.url', ?, '$.company', ?)",
                           ("Ann\r\nBcc: evil@example.com", "javascript:alert(1)", "\x1b[31mAcme"))
    report = deliver(make_policy_set(), store, NOW)
    assert report.errors == [] and report.dead == []
    [mail] = [m for m in smtp.messages if m["To"] == "rep0@example.com"]
    assert mail["Bcc"] is None and "\n" not in mail["Subject"]
    assert "\x1b" not in mail.as_string()
    slack = [p for p in http_env.posts if "blocks" in p.json]
    assert slack and all("javascript:" not in p.body.decode() for p in slack)


def test_the_mails_of_one_batch_share_one_smtp_session(tmp_path, smtp):
    text = POLICY.replace("      notify cro via slack\n      notify cro via webhook\n", "").replace(
        "      reassign to pool round robin skip previous owners\n      task \"Call this lead now\" for owner due 1h\n"
        "      set sla_status = \"breached\"\n", "      notify owner via email\n")
    store = evaluated_store(tmp_path, leads=6, as_of=at(17, 14), text=text)  # 12 mails: 2 levels of 6 leads
    report = deliver(make_policy_set(text), store, at(17, 14), batch=5)
    assert report.sent == 12 and report.errors == [] and len(smtp.messages) == 12
    assert len(smtp.logins) == 3  # batches of 5, 5 and 2: one login each, not one per mail
    assert smtp.tls == [True] * 12


def test_a_session_the_server_closed_between_two_mails_is_opened_again(tmp_path, smtp):
    from connectors.notify_email import EmailNotifier
    from sla_engine.delivery.message import Item, Message

    def mail(n: int) -> Message:
        item = Item(key=f"k{n}", lead_id=f"L{n}", lead_name="Ann", company="Acme", policy="p", window="w",
                    level="on breach", timing="overdue by 5m", owner="rep", link="", action="notify owner")
        return Message(channel="email", address="rep@example.com", recipient="Rep", items=(item,),
                       idempotency_key=f"key{n}")

    notifier = EmailNotifier()
    notifier.send(mail(1))
    notifier._open.close()  # gone, as after the server's idle timeout: smtplib then says SMTPServerDisconnected
    notifier.send(mail(2))
    notifier.close()
    assert [m["Message-ID"] for m in smtp.messages] == ["<key1@sla-engine>", "<key2@sla-engine>"]
    assert len(smtp.logins) == 2
