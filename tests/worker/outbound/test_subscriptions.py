"""The subscriptions file: defaults, filters, secrets from the environment, and named errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.outbound import SubscriptionError, load_subscriptions
from worker.settings import Settings, get_settings

SECRET_ENV = "TICKETFUSION_WEBHOOK_OUT_SECRET_CRM"
ENVIRON = {SECRET_ENV: "s" * 32, "TICKETFUSION_WEBHOOK_OUT_SECRET_DESK": "d" * 32}

GOOD = f"""
- name: crm
  url: https://crm.example.com/hooks/ticketfusion
  secret_env: {SECRET_ENV}
- name: desk
  url: http://127.0.0.1:9000/zendesk
  secret_env: TICKETFUSION_WEBHOOK_OUT_SECRET_DESK
  template: zendesk
  timeout_s: 3
  max_attempts: 2
  only: {{actions: [escalate], min_priority: high}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "webhooks.yaml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str, **settings: object) -> list:
    return load_subscriptions(write(tmp_path, text), settings=Settings(**settings), environ=ENVIRON)


def test_entries_load_with_defaults_from_settings(tmp_path: Path) -> None:
    """Entries load in order; timeout and attempts default from settings, a filter is parsed."""
    crm, desk = load(tmp_path, GOOD, webhook_out_max_attempts=5)
    assert (crm.name, crm.template, crm.timeout_s, crm.max_attempts) == ("crm", "generic", 10.0, 5)
    assert crm.secret == "s" * 32 and crm.only.actions is None
    assert (desk.template, desk.timeout_s, desk.max_attempts) == ("zendesk", 3.0, 2)
    assert desk.only.actions == frozenset({"escalate"}) and desk.only.min_priority == "high"


def test_the_secret_is_not_in_the_repr(tmp_path: Path) -> None:
    """A subscription's repr (what a log line or traceback shows) leaves its secret out."""
    crm, _ = load(tmp_path, GOOD)
    assert "s" * 32 not in repr(crm) and SECRET_ENV in repr(crm)


def test_a_mapping_with_a_subscriptions_list_loads(tmp_path: Path) -> None:
    """The file may also be a mapping whose one key, subscriptions, holds the list."""
    text = "subscriptions:\n" + "\n".join("  " + line for line in GOOD.strip().splitlines())
    assert [s.name for s in load(tmp_path, text)] == ["crm", "desk"]


def test_the_setting_names_the_file_and_unset_means_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TICKETFUSION_WEBHOOKS_FILE names the file; unset, there are no subscriptions."""
    monkeypatch.delenv("TICKETFUSION_WEBHOOKS_FILE", raising=False)
    assert load_subscriptions(settings=Settings(), environ=ENVIRON) == []
    monkeypatch.setenv("TICKETFUSION_WEBHOOKS_FILE", str(write(tmp_path, GOOD)))
    get_settings.cache_clear()
    try:
        assert [s.name for s in load_subscriptions(environ=ENVIRON)] == ["crm", "desk"]
    finally:
        get_settings.cache_clear()


def test_secrets_come_from_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit environ the secret is read from os.environ."""
    monkeypatch.setenv(SECRET_ENV, "e" * 20)
    monkeypatch.setenv("TICKETFUSION_WEBHOOK_OUT_SECRET_DESK", "f" * 20)
    crm, desk = load_subscriptions(write(tmp_path, GOOD), settings=Settings())
    assert (crm.secret, desk.secret) == ("e" * 20, "f" * 20)


def test_a_missing_secret_names_the_entry_and_the_variable(tmp_path: Path) -> None:
    """An unset secret variable is a SubscriptionError naming the entry, the variable and the fix."""
    with pytest.raises(SubscriptionError) as caught:
        load_subscriptions(write(tmp_path, GOOD), settings=Settings(), environ={SECRET_ENV: "s" * 32})
    message = str(caught.value)
    assert "subscription 2 ('desk')" in message and "TICKETFUSION_WEBHOOK_OUT_SECRET_DESK" in message
    assert "not set" in message


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    """A secret under 16 characters is refused, saying how to generate one."""
    with pytest.raises(SubscriptionError, match="at least 16.*secrets.token_hex"):
        load_subscriptions(write(tmp_path, GOOD), settings=Settings(), environ={**ENVIRON, SECRET_ENV: "short"})


def test_a_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    """A 'secret' key in the file is an unknown key, with a hint to use secret_env."""
    text = f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}, secret: hunter2hunter2hunter2}}"
    with pytest.raises(SubscriptionError, match=r"'crm'.*secret: unknown key \(secrets go in the environment"):
        load(tmp_path, text)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A file that does not exist is named, with the variable to unset."""
    with pytest.raises(SubscriptionError, match="does not exist.*TICKETFUSION_WEBHOOKS_FILE"):
        load_subscriptions(tmp_path / "nope.yaml", settings=Settings(), environ=ENVIRON)


def test_bad_yaml_is_named_with_its_line(tmp_path: Path) -> None:
    """Unparseable YAML names the file and the line."""
    with pytest.raises(SubscriptionError, match=r"webhooks.yaml is not valid YAML at line 2"):
        load(tmp_path, "- name: crm\n\turl: https://a.example/h\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: crm", "must hold a list of subscriptions"),
        ("- just a string", "subscription 1 must be a mapping"),
        (f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}, template: freshdesk}}",
         "template: Input should be 'generic' or 'zendesk'"),
        (f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}, timeout: 3}}", "timeout: unknown key"),
        ("- {name: crm, url: 'https://a.example/h'}", "secret_env: Field required"),
        (f"- {{name: 'has space', url: 'https://a.example/h', secret_env: {SECRET_ENV}}}", "name: String should match"),
        (f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}, only: {{min_priority: huge}}}}",
         "only.min_priority"),
        (f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}, only: {{actions: [shout]}}}}",
         "only.actions.0"),
        (f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}, only: {{tags: [x]}}}}",
         "only.tags: unknown key"),
        (f"- {{name: crm, url: 'https://a.example/h', secret_env: {SECRET_ENV}}}\n"
         f"- {{name: crm, url: 'https://b.example/h', secret_env: {SECRET_ENV}}}", "'crm' is used twice"),
        (f"- {{name: crm, url: 'ftp://a.example/h', secret_env: {SECRET_ENV}}}", "is not an http(s) URL"),
        (f"- {{name: crm, url: 'https://user:pw@a.example/h', secret_env: {SECRET_ENV}}}", "user name or password"),
    ],
)
def test_each_bad_entry_is_a_named_error(tmp_path: Path, text: str, expected: str) -> None:
    """Each malformed entry raises a SubscriptionError that names the entry and the problem."""
    with pytest.raises(SubscriptionError) as caught:
        load(tmp_path, text)
    assert expected in str(caught.value)
    assert "webhooks.yaml" in str(caught.value)


def test_plain_http_is_refused_except_to_localhost_or_when_allowed(tmp_path: Path) -> None:
    """http:// works to localhost and 127.0.0.1 only, unless webhook_out_allow_http is set."""
    remote = f"- {{name: crm, url: 'http://crm.example.com/h', secret_env: {SECRET_ENV}}}"
    with pytest.raises(SubscriptionError, match="plain http: use https"):
        load(tmp_path, remote)
    assert load(tmp_path, remote, webhook_out_allow_http=True)[0].url == "http://crm.example.com/h"
    for local in ("http://localhost:8000/h", "http://127.0.0.1/h", "http://[::1]:9/h"):
        assert load(tmp_path, f"- {{name: crm, url: '{local}', secret_env: {SECRET_ENV}}}")[0].url == local


def test_an_empty_file_has_no_subscriptions(tmp_path: Path) -> None:
    """An empty file (or an empty list) means no subscriptions."""
    assert load(tmp_path, "") == [] and load(tmp_path, "[]") == []


def test_backoff_stays_below_the_visibility_timeout(tmp_path: Path) -> None:
    """The longest wait is capped at half the Redis visibility timeout, so a waiting retry is not redelivered."""
    crm, _ = load(tmp_path, GOOD, webhook_out_backoff_max_s=5000, visibility_timeout_s=3600)
    assert crm.backoff_max_s == 1800
