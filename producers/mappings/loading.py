"""Finding and reading mapping files: the built-ins shipped in this package, or a file of yours.

``load_mapping("zendesk")`` reads the package's ``zendesk.yaml``; ``load_mapping("mapping:acme.yaml")``
(or a plain path) reads your own. The YAML is read with ``safe_load`` and checked whole (see
:mod:`producers.mappings.spec`), so a bad file is refused before any payload meets it.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from producers.mappings.errors import InvalidMapping, UnknownMapping
from producers.mappings.spec import Mapping, MappingSpec, compile_mapping

__all__ = ["BUILTIN_MAPPINGS", "builtin_mappings", "load_mapping", "mapping_from_data"]

BUILTIN_MAPPINGS = ("zendesk", "freshdesk")
_PREFIX = "mapping:"


def _is_union_tag(part: str) -> bool:
    """pydantic names the union member it tried in an error's location; the file has no such key."""
    return part in ("str", "FieldSpec", "AttachmentSpec") or "[" in part


def mapping_from_data(data: Any, origin: str = "mapping") -> Mapping:
    """A mapping from already-parsed YAML/JSON data; ``origin`` names it in error messages."""
    if not isinstance(data, dict):
        raise InvalidMapping(f"{origin}: a mapping file holds a YAML mapping (name, detect, fields), not {type(data).__name__}")
    try:
        spec = MappingSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False):
            loc = ".".join(str(part) for part in item["loc"] if not _is_union_tag(str(part)))
            problems.append(f"{loc or 'mapping'}: {item['msg']}")
        raise InvalidMapping(f"{origin}: " + "; ".join(dict.fromkeys(problems))) from None
    return compile_mapping(spec, origin)


def _read(path: Path, origin: str) -> Mapping:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UnknownMapping(f"cannot read mapping file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidMapping(f"{origin}: not valid YAML: {exc}") from None
    return mapping_from_data(data, origin)


@lru_cache(maxsize=None)
def _builtin(name: str) -> Mapping:
    source = resources.files("producers.mappings").joinpath(f"{name}.yaml")
    with resources.as_file(source) as path:
        return _read(Path(path), f"built-in mapping {name}")


def load_mapping(name_or_path: str | Path | Mapping) -> Mapping:
    """A built-in mapping by name (``zendesk``, ``freshdesk``), or a file as ``mapping:FILE`` or a path.

    Raises :class:`UnknownMapping` when it is neither, :class:`InvalidMapping` for a bad file.
    """
    if isinstance(name_or_path, Mapping):
        return name_or_path
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in BUILTIN_MAPPINGS:
        return _builtin(text)
    explicit = text.startswith(_PREFIX)
    path = Path(text[len(_PREFIX):] if explicit else text).expanduser()
    if explicit or path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise UnknownMapping(f"mapping file {path} does not exist")
        return _read(path, str(path))
    raise UnknownMapping(
        f"unknown mapping {text!r}: use one of {', '.join(BUILTIN_MAPPINGS)} or mapping:FILE (a YAML mapping file)"
    )


def builtin_mappings() -> list[Mapping]:
    """Every built-in mapping, for telling which source a payload comes from."""
    return [_builtin(name) for name in BUILTIN_MAPPINGS]
