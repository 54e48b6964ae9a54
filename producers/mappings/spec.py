"""The mapping language: the YAML file's schema, and the compiled :class:`Mapping` it becomes.

A mapping says how to recognise a source's payload (``detect``: envelopes, each a JMESPath
``when`` and the ``root`` that holds the ticket), then, for each contract field, where its value
is (a JMESPath ``path``, or several tried in turn) and which named transforms shape it.
Everything is checked when the file is loaded, so a typo in a path or a transform fails at
start-up with the key that holds it, not on the first webhook. docs/mappings.md describes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from pydantic import BaseModel, ConfigDict, Field, model_validator

from producers.mappings.errors import InvalidMapping
from producers.mappings.transforms import Transform, compile_transform

__all__ = [
    "FIELD_NAMES",
    "REQUIRED_FIELDS",
    "Alternative",
    "AttachmentRule",
    "CompiledField",
    "Envelope",
    "Mapping",
    "MappingSpec",
    "compile_mapping",
    "is_empty",
]

#: The contract fields a mapping fills from the payload; attachments and metadata have sections of their own.
FIELD_NAMES = ("ticket_id", "customer_id", "channel", "subject", "body", "created_at")
REQUIRED_FIELDS = ("ticket_id", "customer_id")


class FieldSpec(BaseModel):
    """Where one value is: ``path`` (one JMESPath or several, the first non-empty wins),
    ``first`` (alternatives with transforms of their own) or a constant ``value``."""

    model_config = ConfigDict(extra="forbid")

    path: str | list[str] | None = None
    first: list[FieldSpec | str | list[str]] | None = None
    value: Any = None
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    default: Any = None

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [name for name in ("path", "first", "value") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of path, first and value (got {given or 'none'})")
        return self


#: A field rule: a table, or the shorthand of a path (``subject``) or of paths tried in turn.
FieldInput = FieldSpec | str | list[str]


class AttachmentSpec(BaseModel):
    """Where the attachment list is (``path``) and, in each item, its URL, name, type and size."""

    model_config = ConfigDict(extra="forbid")

    path: str
    url: FieldInput
    filename: FieldInput | None = None
    content_type: FieldInput | None = None
    size: FieldInput | None = None


class EnvelopeSpec(BaseModel):
    """One payload shape: ``when`` recognises it, ``root`` unwraps it; ``skip`` gives the reason
    to skip what it recognises; ``fields``/``metadata``/``attachments`` override the mapping's."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    when: str
    root: str = "@"
    skip: str | None = None
    fields: dict[str, FieldInput] = Field(default_factory=dict)
    metadata: dict[str, FieldInput] = Field(default_factory=dict)
    attachments: AttachmentSpec | None = None


class MappingSpec(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    detect: list[EnvelopeSpec] = Field(min_length=1)
    fields: dict[str, FieldInput] = Field(default_factory=dict)
    metadata: dict[str, FieldInput] = Field(default_factory=dict)
    attachments: AttachmentSpec | None = None


def is_empty(value: Any) -> bool:
    """JMESPath's falsy values except ``false`` and 0, plus blank text: "the payload gave nothing"."""
    return value is None or value == [] or value == {} or (isinstance(value, str) and not value.strip())


def _truthy(value: Any) -> bool:
    """JMESPath truthiness (0 is true; false, null and empty text, lists and objects are not)."""
    return value is not None and value is not False and value not in ("", [], {})


@dataclass(frozen=True)
class Alternative:
    """One place a value may be: a compiled path (or a constant), and its own transforms."""

    text: str
    expression: ParsedResult | None
    constant: Any = None
    transforms: tuple[Transform, ...] = ()
    #: written ``$.path``: read from the whole payload rather than the envelope's root
    whole: bool = False


@dataclass(frozen=True)
class CompiledField:
    """A field's alternatives, tried in order, the transforms applied after, and its default."""

    name: str
    alternatives: tuple[Alternative, ...]
    transforms: tuple[Transform, ...] = ()
    default: Any = None

    @property
    def paths(self) -> list[str]:
        return [alt.text for alt in self.alternatives if alt.expression is not None]


@dataclass(frozen=True)
class AttachmentRule:
    """The compiled ``attachments`` section."""

    text: str
    expression: ParsedResult
    url: CompiledField
    filename: CompiledField | None
    content_type: CompiledField | None
    size: CompiledField | None


@dataclass(frozen=True)
class Envelope:
    """One recognised payload shape with the fields, metadata and attachments that apply to it."""

    name: str
    when_text: str
    when: ParsedResult
    root_text: str
    root: ParsedResult
    skip: str | None
    fields: dict[str, CompiledField]
    metadata: dict[str, CompiledField]
    attachments: AttachmentRule | None

    def matches(self, payload: Any) -> bool:
        try:
            return _truthy(self.when.search(payload))
        except (JMESPathError, TypeError, ValueError):
            return False


@dataclass(frozen=True)
class Mapping:
    """A loaded, checked mapping: its name, where it came from, and its envelopes in order."""

    name: str
    description: str
    origin: str
    envelopes: tuple[Envelope, ...] = field(default_factory=tuple)

    def match(self, payload: Any) -> Envelope | None:
        """The first envelope that recognises ``payload``, or None when it is not this source's."""
        return next((envelope for envelope in self.envelopes if envelope.matches(payload)), None)


def _compile_path(text: str, where: str) -> ParsedResult:
    try:
        return jmespath.compile(text)
    except JMESPathError as exc:
        problem = str(exc).strip().splitlines()[0]
        raise InvalidMapping(f"{where}: {text!r} is not a JMESPath expression ({problem})") from None


def _compile_transforms(items: list[Any], where: str) -> tuple[Transform, ...]:
    compiled = []
    for i, item in enumerate(items):
        try:
            compiled.append(compile_transform(item))
        except ValueError as exc:
            raise InvalidMapping(f"{where}.transforms.{i}: {exc}") from None
    return tuple(compiled)


def _compile_field(name: str, spec: FieldInput, where: str) -> CompiledField:
    spec = spec if isinstance(spec, FieldSpec) else FieldSpec(path=spec)
    alternatives: list[Alternative] = []
    if spec.first is not None:
        for i, item in enumerate(spec.first):
            sub = item if isinstance(item, FieldSpec) else FieldSpec(path=item)
            if sub.first is not None:
                raise InvalidMapping(f"{where}.first.{i}: alternatives cannot nest another 'first'")
            inner = _compile_field(name, sub, f"{where}.first.{i}")
            alternatives += [
                Alternative(alt.text, alt.expression, alt.constant, alt.transforms + inner.transforms, alt.whole)
                for alt in inner.alternatives
            ]
    elif spec.path is not None:
        for i, text in enumerate([spec.path] if isinstance(spec.path, str) else spec.path):
            whole = text.startswith("$.")
            expression = _compile_path(text[2:] if whole else text, f"{where}.path.{i}")
            alternatives.append(Alternative(text, expression, whole=whole))
    else:
        alternatives.append(Alternative(f"value {spec.value!r}", None, spec.value))
    transforms = _compile_transforms(spec.transforms, where)
    return CompiledField(name, tuple(alternatives), transforms, spec.default)


def _compile_attachments(spec: AttachmentSpec, where: str) -> AttachmentRule:
    def part(name: str) -> CompiledField | None:
        value = getattr(spec, name)
        return None if value is None else _compile_field(name, value, f"{where}.{name}")

    url = part("url")
    assert url is not None
    return AttachmentRule(
        spec.path, _compile_path(spec.path, f"{where}.path"), url, part("filename"), part("content_type"), part("size")
    )


def _compile_fields(specs: dict[str, FieldInput], where: str) -> dict[str, CompiledField]:
    unknown = sorted(set(specs) - set(FIELD_NAMES))
    if unknown:
        raise InvalidMapping(
            f"{where}: unknown contract fields {unknown}; a mapping fills {', '.join(FIELD_NAMES)} "
            "(and has 'metadata' and 'attachments' sections)"
        )
    return {name: _compile_field(name, spec, f"{where}.{name}") for name, spec in specs.items()}


def compile_mapping(spec: MappingSpec, origin: str) -> Mapping:
    """Compile every path and transform; raises :class:`InvalidMapping` naming the key at fault."""
    base_fields = _compile_fields(spec.fields, f"{origin}: fields")
    base_metadata = {
        key: _compile_field(key, value, f"{origin}: metadata.{key}") for key, value in spec.metadata.items()
    }
    base_attachments = spec.attachments and _compile_attachments(spec.attachments, f"{origin}: attachments")
    envelopes = []
    for i, env in enumerate(spec.detect):
        where = f"{origin}: detect.{i} ({env.name})"
        fields = {**base_fields, **_compile_fields(env.fields, f"{where}.fields")}
        metadata = {
            **base_metadata,
            **{key: _compile_field(key, value, f"{where}.metadata.{key}") for key, value in env.metadata.items()},
        }
        missing = [name for name in REQUIRED_FIELDS if name not in fields]
        if missing and env.skip is None:
            raise InvalidMapping(f"{where}: no rule for the required fields {missing}")
        attachments = _compile_attachments(env.attachments, f"{where}.attachments") if env.attachments else None
        envelopes.append(
            Envelope(
                name=env.name,
                when_text=env.when,
                when=_compile_path(env.when, f"{where}.when"),
                root_text=env.root,
                root=_compile_path(env.root, f"{where}.root"),
                skip=env.skip,
                fields=fields,
                metadata=metadata,
                attachments=attachments or base_attachments or None,
            )
        )
    return Mapping(spec.name, spec.description.strip(), origin, tuple(envelopes))
