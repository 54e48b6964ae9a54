"""The knowledge base: a reply template per intent (``replies.yaml``) and help articles (``articles/*.md``).

Support teams edit these files, not code, so :meth:`KnowledgeBase.load` checks everything an edit
could break (an intent without a reply, a template that does not compile or fails on a trial
render, an article naming an unknown intent) and names the file and entry at fault. Templates
render in Jinja2's immutable sandbox: whoever edits them must not reach Python internals through
them. No torch: Jinja2, PyYAML and the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.errors import TicketfusionError

REPLIES_FILE = "replies.yaml"
ARTICLES_DIR = "articles"
SLOTS = ("name", "amount", "date", "time", "card_last4", "company", "person", "reference")
"""The variables a template may use; each is a display-ready string or ``None`` when not known."""

SAMPLE_SLOTS: dict[str, str] = {
    "name": "Alex",
    "amount": "£25.00",
    "date": "14 March 2022",
    "time": "14:30",
    "card_last4": "1234",
    "company": "Acme Ltd",
    "person": "Sam Taylor",
    "reference": "TX-20220314-0001",
}
"""Every slot filled, for the trial render at load time (and for tests and previews)."""

_TOP_KEYS = {"greeting", "sign_off", "replies"}
_ENTRY_KEYS = {"title", "template", "articles"}
_ARTICLE_KEYS = {"id", "title", "intents"}
_ARTICLE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class KnowledgeBaseInvalid(TicketfusionError, ValueError):
    """The knowledge folder cannot be used; the message names the file (and entry) and what is wrong."""

    def __init__(self, path: Path, problem: str, *, entry: str | None = None) -> None:
        self.path = Path(path)
        self.entry = entry
        self.problem = problem
        where = f"{self.path} [{entry}]" if entry else str(self.path)
        super().__init__(f"{where}: {problem}")


class UnknownIntent(TicketfusionError, KeyError):
    """Asked for the reply or title of an intent the knowledge base has no entry for."""

    def __init__(self, intent: str) -> None:
        self.intent = intent
        super().__init__(intent)

    def __str__(self) -> str:
        return f"no reply template for intent {self.intent!r}"


class ReplyRenderError(TicketfusionError, RuntimeError):
    """A template failed while rendering (a sandbox violation, calling an undefined name, ...).

    Load-time trial renders catch most such templates, but one can still fail on particular slot
    values. Callers should catch this and fall back (no suggested reply, or escalate to a person)
    rather than fail the ticket; ``__cause__`` holds the original error.
    """

    def __init__(self, intent: str, error: BaseException) -> None:
        self.intent = intent
        super().__init__(f"reply template for intent {intent!r} failed to render: {error}")


@dataclass(frozen=True)
class Article:
    """A help article: ``text`` is the Markdown body without its front matter."""

    id: str
    title: str
    text: str
    intents: tuple[str, ...]


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, made loud: an unsafe attribute raises instead of rendering empty,
    so a template probing internals fails its trial render at load rather than passing silently."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")


def _environment() -> _Sandbox:
    # ChainableUndefined: a missing slot (or ``slot.anything``) renders empty instead of raising;
    # finalize: ``None`` renders empty, not as the word "None".
    return _Sandbox(
        autoescape=False,
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=lambda value: "" if value is None else value,
    )


class KnowledgeBase:
    """Reply templates and help articles, validated and compiled; create with :meth:`load`."""

    def __init__(self, *, greeting: Template, sign_off: Template, templates: Mapping[str, Template],
                 titles: Mapping[str, str], article_ids: Mapping[str, tuple[str, ...]],
                 articles: Sequence[Article]) -> None:
        self._greeting = greeting
        self._sign_off = sign_off
        self._templates = dict(templates)
        self._titles = dict(titles)
        self._article_ids = dict(article_ids)
        self.articles: tuple[Article, ...] = tuple(articles)
        self._by_id = {article.id: article for article in self.articles}

    @classmethod
    def load(cls, folder: Path, *, labels: Sequence[str]) -> KnowledgeBase:
        """Read, validate and compile ``folder``; raises :class:`KnowledgeBaseInvalid` on any problem.

        ``labels`` is the intent model's taxonomy: every label needs an entry, and no entry or
        article may name a label outside it (a renamed intent would otherwise never match).
        """
        folder = Path(folder)
        known = set(labels)
        env = _environment()
        allowed = set(SLOTS) | set(env.globals)
        articles = _load_articles(folder / ARTICLES_DIR, known)
        article_ids = {article.id for article in articles}

        path = folder / REPLIES_FILE
        data = _read_yaml(path)
        if not isinstance(data, dict):
            raise KnowledgeBaseInvalid(path, "expected a mapping with greeting, sign_off and replies")
        _check_keys(path, data, required=_TOP_KEYS, allowed=_TOP_KEYS)
        greeting = _compile(env, path, "greeting", data["greeting"], allowed)
        sign_off = _compile(env, path, "sign_off", data["sign_off"], allowed)
        replies = data["replies"]
        if not isinstance(replies, dict):
            raise KnowledgeBaseInvalid(path, "replies must map each intent label to an entry")
        unknown = sorted(str(key) for key in replies if key not in known)
        if unknown:
            raise KnowledgeBaseInvalid(path, f"entries for unknown intents: {', '.join(unknown)}")
        missing = [label for label in labels if label not in replies]
        if missing:
            raise KnowledgeBaseInvalid(path, f"no reply for intents: {', '.join(missing)}")

        templates: dict[str, Template] = {}
        titles: dict[str, str] = {}
        related: dict[str, tuple[str, ...]] = {}
        for label in labels:
            entry = replies[label]
            if not isinstance(entry, dict):
                raise KnowledgeBaseInvalid(path, "expected a mapping with title and template", entry=label)
            _check_keys(path, entry, required={"title", "template"}, allowed=_ENTRY_KEYS, entry=label)
            titles[label] = _text(path, entry["title"], "title", entry=label)
            templates[label] = _compile(env, path, label, entry["template"], allowed)
            ids = _strings(path, entry.get("articles") or [], "articles", entry=label)
            dangling = [article_id for article_id in ids if article_id not in article_ids]
            if dangling:
                raise KnowledgeBaseInvalid(path, f"unknown article ids: {', '.join(dangling)}", entry=label)
            related[label] = tuple(ids)

        kb = cls(greeting=greeting, sign_off=sign_off, templates=templates, titles=titles,
                 article_ids=related, articles=articles)
        for label in labels:
            for slots in ({}, SAMPLE_SLOTS):
                try:
                    kb.reply(label, slots=slots)
                except ReplyRenderError as exc:
                    raise KnowledgeBaseInvalid(path, f"template fails a trial render: {exc.__cause__}",
                                               entry=label) from exc
        return kb

    @property
    def intents(self) -> tuple[str, ...]:
        """The intents with a reply, in taxonomy order."""
        return tuple(self._templates)

    def title(self, intent: str) -> str:
        """The entry's short title (for an agent's view or a reply subject line)."""
        try:
            return self._titles[intent]
        except KeyError:
            raise UnknownIntent(intent) from None

    def reply(self, intent: str, *, slots: Mapping[str, str | None]) -> str:
        """The suggested reply: greeting, the intent's template and the sign-off, whitespace tidied.

        Slots that are ``None`` or blank count as unknown, so templates' fallbacks apply. Raises
        :class:`UnknownIntent` for an intent without an entry and :class:`ReplyRenderError` when
        the template fails at render time.
        """
        template = self._templates.get(intent)
        if template is None:
            raise UnknownIntent(intent)
        context = {key: value for key, value in slots.items()
                   if value is not None and not (isinstance(value, str) and not value.strip())}
        try:
            parts = [part.render(context) for part in (self._greeting, template, self._sign_off)]
        except Exception as exc:  # templates are edited content: any failure is theirs, not the caller's
            raise ReplyRenderError(intent, exc) from exc
        return _tidy("\n\n".join(parts))

    def article(self, article_id: str) -> Article:
        """The article with this id (``KeyError`` if none)."""
        return self._by_id[article_id]

    def articles_for(self, intent: str) -> tuple[Article, ...]:
        """Articles for an intent: those its entry names first, then any whose front matter lists it."""
        named = [self._by_id[article_id] for article_id in self._article_ids.get(intent, ())]
        tagged = [article for article in self.articles if intent in article.intents and article not in named]
        return tuple(named + tagged)


def _tidy(text: str) -> str:
    """Collapse the gaps an empty slot or conditional leaves: runs of spaces, a space before
    punctuation, blank-line runs, trailing spaces."""
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    text = "\n".join(lines)
    text = re.sub(r" +([,.;:!?)])", r"\1", text)
    text = re.sub(r"\( +", "(", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _compile(env: _Sandbox, path: Path, entry: str, source: Any, allowed: set[str]) -> Template:
    """Compile one template, refusing syntax errors and variables outside :data:`SLOTS` (a typo
    such as ``{{ nmae }}`` would otherwise render empty forever)."""
    source = _text(path, source, "template", entry=entry)
    try:
        unknown = sorted(meta.find_undeclared_variables(env.parse(source)) - allowed)
        template = env.from_string(source)
    except TemplateSyntaxError as exc:
        raise KnowledgeBaseInvalid(path, f"template does not compile (line {exc.lineno}): {exc.message}",
                                   entry=entry) from exc
    if unknown:
        raise KnowledgeBaseInvalid(
            path, f"template uses unknown variables {', '.join(unknown)} (known: {', '.join(SLOTS)})", entry=entry
        )
    return template


def _load_articles(folder: Path, known: set[str]) -> list[Article]:
    """Every ``*.md`` under ``folder``, sorted by file name; an absent folder means no articles."""
    if not folder.is_dir():
        return []
    return [_load_article(path, known) for path in sorted(folder.glob("*.md"))]


def _load_article(path: Path, known: set[str]) -> Article:
    text = _read_text(path)
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", text, re.DOTALL)
    if match is None:
        raise KnowledgeBaseInvalid(path, "missing YAML front matter between '---' lines")
    try:
        header = yaml.load(match.group(1), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise KnowledgeBaseInvalid(path, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(header, dict):
        raise KnowledgeBaseInvalid(path, "front matter must be a mapping with id, title and intents")
    _check_keys(path, header, required=_ARTICLE_KEYS, allowed=_ARTICLE_KEYS)
    article_id = _text(path, header["id"], "id")
    if not _ARTICLE_ID.match(article_id) or article_id != path.stem:
        raise KnowledgeBaseInvalid(path, f"id {article_id!r} must be lowercase-with-hyphens and match the file name",
                                   entry=article_id)
    intents = _strings(path, header["intents"], "intents", entry=article_id)
    if not intents:
        raise KnowledgeBaseInvalid(path, "intents is empty", entry=article_id)
    unknown = [intent for intent in intents if intent not in known]
    if unknown:
        raise KnowledgeBaseInvalid(path, f"unknown intents: {', '.join(unknown)}", entry=article_id)
    body = text[match.end():].strip()
    if not body:
        raise KnowledgeBaseInvalid(path, "the article has no text after its front matter", entry=article_id)
    return Article(id=article_id, title=_text(path, header["title"], "title", entry=article_id), text=body,
                   intents=tuple(intents))


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys: with a plain ``safe_load`` a pasted second
    entry for an intent would silently replace the first."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise KnowledgeBaseInvalid(path, "file missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseInvalid(path, f"cannot read: {exc}") from exc


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(_read_text(path), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise KnowledgeBaseInvalid(path, f"not valid YAML: {exc}") from exc


def _check_keys(path: Path, data: dict[Any, Any], *, required: set[str], allowed: set[str],
                entry: str | None = None) -> None:
    missing = sorted(required - set(data))
    if missing:
        raise KnowledgeBaseInvalid(path, f"missing {', '.join(missing)}", entry=entry)
    extra = sorted(str(key) for key in data if key not in allowed)
    if extra:
        raise KnowledgeBaseInvalid(path, f"unexpected keys {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})",
                                   entry=entry)


def _text(path: Path, value: Any, field: str, *, entry: str | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeBaseInvalid(path, f"{field} must be non-empty text", entry=entry)
    return value.strip()


def _strings(path: Path, value: Any, field: str, *, entry: str | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise KnowledgeBaseInvalid(path, f"{field} must be a list of names", entry=entry)
    return value
