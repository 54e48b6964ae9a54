"""The knowledge base: the shipped replies and articles, load-time validation, sandboxed rendering."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from worker.replies.knowledge import (
    REPLIES_FILE,
    SAMPLE_SLOTS,
    SLOTS,
    KnowledgeBase,
    KnowledgeBaseInvalid,
    ReplyRenderError,
    UnknownIntent,
)

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "worker" / "knowledge"
LABELS: list[str] = json.loads((REPO / "onnx_models" / "intent" / "labels.json").read_text(encoding="utf-8"))
SIGN_OFF = "Best wishes,\nThe Support Team"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    """The shipped knowledge base, loaded against the intent model's real labels."""
    return KnowledgeBase.load(SHIPPED, labels=LABELS)


def copy_with(tmp_path: Path, edit: Any = None) -> Path:
    """A copy of the shipped folder whose replies.yaml data ``edit`` has changed in place."""
    folder = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, folder)
    if edit is not None:
        path = folder / REPLIES_FILE
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def set_template(intent: str, source: str) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["replies"][intent]["template"] = source

    return edit


def body(reply: str) -> str:
    """The intent's own part of a reply: between the greeting and the sign-off."""
    return reply.split("\n\n")[1]


def test_shipped_knowledge_base_loads(kb: KnowledgeBase) -> None:
    """The shipped folder has a reply for exactly the 77 labels of the built intent model, and 25-35 articles."""
    assert len(LABELS) == 77
    assert kb.intents == tuple(LABELS)
    assert 25 <= len(kb.articles) <= 35
    assert all(kb.title(label) for label in LABELS)


@pytest.mark.parametrize("intent", LABELS)
def test_template_renders_without_slots(kb: KnowledgeBase, intent: str) -> None:
    """With no slots every reply uses its fallbacks: a generic greeting, 2-5 sentences, the sign-off, no markup."""
    reply = kb.reply(intent, slots={})
    assert reply.startswith("Hi there,\n\n")
    assert reply.endswith(SIGN_OFF)
    assert "{{" not in reply and "{%" not in reply and "None" not in reply
    assert "  " not in reply and " ." not in reply and " ," not in reply and "()" not in reply
    assert 2 <= len(re.findall(r"[.!?](?=\s|$)", body(reply))) <= 5


@pytest.mark.parametrize("intent", LABELS)
def test_template_renders_with_all_slots(kb: KnowledgeBase, intent: str) -> None:
    """With every slot filled each reply greets the customer by name and leaves no markup or gaps."""
    reply = kb.reply(intent, slots=SAMPLE_SLOTS)
    assert reply.startswith("Hi Alex,\n\n")
    assert reply.endswith(SIGN_OFF)
    assert "{{" not in reply and "{%" not in reply and "}}" not in reply and "%}" not in reply
    assert "  " not in reply and " ." not in reply and " ," not in reply and "()" not in reply
    assert 2 <= len(re.findall(r"[.!?](?=\s|$)", body(reply))) <= 5


def test_none_and_blank_slots_fall_back(kb: KnowledgeBase) -> None:
    """Slots that are None or blank render exactly as if they were absent (never the word "None")."""
    unknown = {slot: None for slot in SLOTS} | {"name": "  "}
    for intent in LABELS:
        assert kb.reply(intent, slots=unknown) == kb.reply(intent, slots={})


def test_slots_appear_where_natural(kb: KnowledgeBase) -> None:
    """Known details are woven in: the card's last digits, the merchant, the amount and the payee."""
    assert "card ending 1234" in kb.reply("lost_or_stolen_card", slots={"card_last4": "1234"})
    charged = kb.reply("transaction_charged_twice", slots={"company": "Acme Ltd", "amount": "£25.00"})
    assert "by Acme Ltd for £25.00" in charged
    assert "Sorry Sam Taylor hasn't received" in kb.reply("transfer_not_received_by_recipient",
                                                        slots={"person": "Sam Taylor"})


def test_missing_label_is_invalid(tmp_path: Path) -> None:
    """A taxonomy label without a reply entry is refused, naming the file and the label."""
    with pytest.raises(KnowledgeBaseInvalid) as caught:
        KnowledgeBase.load(copy_with(tmp_path), labels=[*LABELS, "open_savings_account"])
    assert "open_savings_account" in str(caught.value)
    assert REPLIES_FILE in str(caught.value)


def test_unknown_label_is_invalid(tmp_path: Path) -> None:
    """An entry (or article) for a label outside the taxonomy is refused, naming the label."""
    with pytest.raises(KnowledgeBaseInvalid, match="activate_my_card"):
        KnowledgeBase.load(copy_with(tmp_path), labels=[label for label in LABELS if label != "activate_my_card"])


def test_broken_template_names_file_and_intent(tmp_path: Path) -> None:
    """A template that does not compile is refused at load, naming the file, the intent and the line."""
    folder = copy_with(tmp_path, set_template("card_arrival", "Sorry{% if name %} {{ name }}, your card is late."))
    with pytest.raises(KnowledgeBaseInvalid) as caught:
        KnowledgeBase.load(folder, labels=LABELS)
    message = str(caught.value)
    assert str(folder / REPLIES_FILE) in message and "[card_arrival]" in message and "compile" in message
    assert caught.value.entry == "card_arrival"


def test_misspelt_variable_is_invalid(tmp_path: Path) -> None:
    """A variable outside the known slots (a typo such as ``nmae``) is refused rather than rendering empty forever."""
    folder = copy_with(tmp_path, set_template("card_arrival", "Sorry {{ nmae }}, your card is late."))
    with pytest.raises(KnowledgeBaseInvalid, match=r"\[card_arrival\].*nmae"):
        KnowledgeBase.load(folder, labels=LABELS)


def test_duplicate_entry_is_invalid(tmp_path: Path) -> None:
    """A second entry for the same intent is refused instead of silently replacing the first."""
    folder = copy_with(tmp_path)
    path = folder / REPLIES_FILE
    path.write_text(path.read_text(encoding="utf-8")
                    + "  card_arrival:\n    title: Again\n    template: Hello.\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseInvalid, match="duplicate key 'card_arrival'"):
        KnowledgeBase.load(folder, labels=LABELS)


def test_sandbox_blocks_internals_at_load(tmp_path: Path) -> None:
    """A template reaching for Python internals (``''.__class__``) fails its trial render, so it never loads."""
    for source in ("{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                   "{{ name.__init__.__globals__ }}"):
        folder = copy_with(tmp_path / str(abs(hash(source))), set_template("card_arrival", source))
        with pytest.raises(KnowledgeBaseInvalid, match=r"\[card_arrival\].*unsafe"):
            KnowledgeBase.load(folder, labels=LABELS)


def test_render_time_failure_is_a_reply_render_error(tmp_path: Path) -> None:
    """A template that passes the trial renders but fails on a particular slot raises ReplyRenderError, not a crash."""
    source = "Your card is late.{% if reference == 'X1' %} {{ ''.__class__ }}{% endif %} Sorry."
    kb = KnowledgeBase.load(copy_with(tmp_path, set_template("card_arrival", source)), labels=LABELS)
    assert "Your card is late. Sorry." in kb.reply("card_arrival", slots={"reference": "X2"})
    with pytest.raises(ReplyRenderError) as caught:
        kb.reply("card_arrival", slots={"reference": "X1"})
    assert caught.value.intent == "card_arrival"
    assert "unsafe" in str(caught.value)


def test_undefined_attributes_render_empty(tmp_path: Path) -> None:
    """Attributes of missing or plain-string slots render empty instead of raising; gaps are tidied."""
    source = "Thanks {{ person.first_name }} , we saw {{ company.name }} ."
    kb = KnowledgeBase.load(copy_with(tmp_path, set_template("card_arrival", source)), labels=LABELS)
    assert body(kb.reply("card_arrival", slots={"company": "Acme"})) == "Thanks, we saw."


def test_unknown_intent(kb: KnowledgeBase) -> None:
    """Asking for an intent outside the knowledge base raises UnknownIntent (a KeyError) naming it."""
    with pytest.raises(UnknownIntent, match="open_savings_account"):
        kb.reply("open_savings_account", slots={})
    with pytest.raises(KeyError):
        kb.title("open_savings_account")


def test_articles_cover_every_intent(kb: KnowledgeBase) -> None:
    """Every intent is listed by at least one article, and every entry's named articles exist."""
    covered = {intent for article in kb.articles for intent in article.intents}
    assert covered == set(LABELS)
    for intent in LABELS:
        assert kb.articles_for(intent), intent


def test_articles_are_short_and_distinct(kb: KnowledgeBase) -> None:
    """Articles have unique ids and titles, a body of 80-200 words and an opening sentence worth embedding."""
    assert len({a.id for a in kb.articles}) == len({a.title for a in kb.articles}) == len(kb.articles)
    for article in kb.articles:
        words = len(re.findall(r"\w[\w'-]*", article.text))
        assert 80 <= words <= 200, (article.id, words)
        first = article.text.split("\n", 1)[0]
        assert not first.startswith("#") and len(first.split()) >= 8, article.id


def test_articles_for_puts_named_articles_first(kb: KnowledgeBase) -> None:
    """An entry's own article ids come first, followed by other articles that list the intent."""
    related = kb.articles_for("card_linking")
    assert [a.id for a in related[:2]] == ["activating-and-linking-a-card", "lost-or-stolen-card"]
    assert all("card_linking" in a.intents or a.id in {"activating-and-linking-a-card", "lost-or-stolen-card"}
               for a in related)


def test_article_with_unknown_intent_is_invalid(tmp_path: Path) -> None:
    """An article naming an intent outside the taxonomy is refused, naming the file and article id."""
    folder = copy_with(tmp_path)
    (folder / "articles" / "savings.md").write_text(
        "---\nid: savings\ntitle: Savings\nintents: [open_savings_account]\n---\nText.\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseInvalid, match=r"savings\.md \[savings\]: unknown intents: open_savings_account"):
        KnowledgeBase.load(folder, labels=LABELS)


def test_article_without_front_matter_is_invalid(tmp_path: Path) -> None:
    """An article missing front matter, or a field of it, is refused, naming the file."""
    folder = copy_with(tmp_path)
    article = folder / "articles" / "refunds.md"
    article.write_text("# Refunds\n\nAsk the merchant.\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseInvalid, match=r"refunds\.md: missing YAML front matter"):
        KnowledgeBase.load(folder, labels=LABELS)
    article.write_text("---\nid: refunds\nintents: [request_refund]\n---\nAsk the merchant.\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseInvalid, match=r"refunds\.md: missing title"):
        KnowledgeBase.load(folder, labels=LABELS)


def test_dangling_article_id_is_invalid(tmp_path: Path) -> None:
    """An entry naming an article that does not exist is refused, naming the intent and the id."""
    def edit(data: dict[str, Any]) -> None:
        data["replies"]["card_arrival"]["articles"] = ["card-delivery", "no-such-article"]

    with pytest.raises(KnowledgeBaseInvalid, match=r"\[card_arrival\]: unknown article ids: no-such-article"):
        KnowledgeBase.load(copy_with(tmp_path, edit), labels=LABELS)


def test_no_torch_at_runtime() -> None:
    """Loading and rendering the knowledge base imports neither torch nor any model runtime."""
    code = (
        "import json, sys; from pathlib import Path; from worker.replies.knowledge import KnowledgeBase; "
        "labels = json.loads(Path('onnx_models/intent/labels.json').read_text()); "
        "kb = KnowledgeBase.load(Path('worker/knowledge'), labels=labels); kb.reply('card_arrival', slots={}); "
        "bad = [m for m in ('torch', 'onnxruntime', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
