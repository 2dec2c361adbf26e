"""Item text templates: catalogue fields -> one text per item.

A ``Template`` is a list of *parts*, each a ``str.format`` string over the catalogue's text fields and
attributes (``"{title}."``, ``"Genres: {genres:list}."``). A part whose fields are all empty for an
item is left out, so a missing brand does not leave a dangling ``"Brand: ."``. The ``list`` format spec
turns ``"Drama|Comedy"`` (or a sequence) into ``"Drama, Comedy"``.

As a string, a template is its parts joined by ``"||"``::

    "{title}.||Genres: {genres:list}.||Tags: {tags:list}."

Fallback: an item whose every part is empty gets the text ``"item <item_id>"``; how many did is
logged as a warning (never silently). Text that is not valid UTF-8 (``bytes`` that do not decode, or
``str`` holding lone surrogates from a lossy decode) raises ``DataError`` naming the item and field.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from explorec.data.interactions import Catalog
from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: text of an item whose template parts are all empty
FALLBACK = "item {item_id}"
#: the part separator in a template string
PART_SEPARATOR = "||"
#: fields used, in this order, when neither a template nor a ``text`` field is given
AUTO_FIELDS = ("title", "name", "categories", "genres", "brand", "tags", "description")


def _check_part(part: str, template: str) -> None:
    """Refuse a part that ``str.format`` could not render: unbalanced braces, an unknown format spec."""
    try:
        parsed = list(string.Formatter().parse(part))
    except ValueError as exc:  # "{title" -> "expected '}' before end of string"
        raise ConfigError(
            f"template {template!r}: part {part!r} is not a format string ({exc}); "
            "write fields as {field} or {field:list}, literal braces as {{ and }}"
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or not name.isidentifier():
            raise ConfigError(
                f"template {template!r}: field {name!r} in part {part!r} must be a field name, e.g. {{title}}"
            )
        if conversion not in (None, "s", "r", "a"):
            raise ConfigError(
                f"template {template!r}: conversion !{conversion} of {{{name}}}; allowed: !s, !r, !a"
            )
        if spec and spec != "list" and not _valid_spec(spec):
            raise ConfigError(
                f"template {template!r}: format {spec!r} of field {{{name}}}; allowed: 'list' or a "
                "Python format spec for text or numbers (e.g. '>10', '.0f')"
            )


def _valid_spec(spec: str) -> bool:
    for sample in ("", 0.0):
        try:
            format(sample, spec)
        except ValueError:
            continue
        return True
    return False


@dataclass(frozen=True)
class Template:
    """Parts of an item text; see the module docstring.

    Examples
    --------
    >>> from explorec.data.interactions import Catalog
    >>> import numpy as np
    >>> cat = Catalog(np.array(["m1", "m2"], dtype=object), fields={
    ...     "title": np.array(["Heat (1995)", ""], dtype=object),
    ...     "genres": np.array(["Action|Crime", ""], dtype=object)})
    >>> Template.parse("{title}.||Genres: {genres:list}.").render(cat)
    ['Heat (1995). Genres: Action, Crime.', 'item m2']
    """

    parts: tuple[str, ...]
    separator: str = " "

    def __post_init__(self) -> None:
        for part in self.parts:
            _check_part(part, str(self))

    @classmethod
    def parse(cls, spec: str) -> Template:
        """A template from its string form (parts joined by ``"||"``)."""
        parts = tuple(p.strip() for p in spec.split(PART_SEPARATOR) if p.strip())
        if not parts:
            raise ConfigError(f"template {spec!r} has no parts")
        return cls(parts)

    def __str__(self) -> str:
        return PART_SEPARATOR.join(self.parts)

    def field_names(self) -> list[str]:
        """Every field a part refers to."""
        names = []
        for part in self.parts:
            for _, name, _, _ in string.Formatter().parse(part):
                if name is not None and name != "" and name not in names:
                    names.append(name)
        return names

    def render(self, catalog: Catalog) -> list[str]:
        """One text per catalogue item (``len == catalog.n_items``), with the fallback where empty."""
        columns = _columns(catalog, self.field_names())
        formatter = _ListFormatter()
        texts: list[str] = []
        n_fallback = 0
        for row in range(catalog.n_items):
            values = {name: _clean(col[row], name, catalog.item_ids[row]) for name, col in columns.items()}
            pieces = []
            for part in self.parts:
                names = [n for _, n, _, _ in string.Formatter().parse(part) if n]
                if names and all(values[n] == "" for n in names):
                    continue
                pieces.append(formatter.format(part, **values).strip())
            text = self.separator.join(p for p in pieces if p).strip()
            if not text:
                n_fallback += 1
                text = FALLBACK.format(item_id=catalog.item_ids[row])
            texts.append(text)
        if n_fallback:
            logger.warning(
                "%d of %d items have no text under template %r; they use the fallback %r",
                n_fallback,
                catalog.n_items,
                str(self),
                FALLBACK,
            )
        return texts


#: default template per dataset name (``explorec.data.registry`` names)
DEFAULT_TEMPLATES: dict[str, Template] = {
    "synthetic": Template(("{title}.", "{categories:list}.", "{brand}.", "{description}")),
    "movielens-100k": Template(("{title}.", "Genres: {genres:list}.")),
    "movielens-latest-small": Template(("{title}.", "Genres: {genres:list}.", "Tags: {tags:list}.")),
    "amazon-scientific": Template(("{text}",)),
    "lastfm-hetrec-2k": Template(("{name}.", "Tags: {tags:list}.")),
    "amazon-beauty": Template(("attributes: {attributes}",)),
    "amazon-sports": Template(("attributes: {attributes}",)),
    "amazon-toys": Template(("attributes: {attributes}",)),
    "known-answer": Template(("{text}",)),
}


def auto_template(catalog: Catalog) -> Template:
    """``{text}`` when the catalogue has a ``text`` field, else its known text fields in a fixed order."""
    if "text" in catalog.fields:
        return Template(("{text}",))
    known = [f for f in AUTO_FIELDS if f in catalog.fields]
    rest = sorted(f for f in catalog.fields if f not in AUTO_FIELDS)
    if not known and not rest:
        return Template((FALLBACK,))
    return Template(tuple(f"{{{f}}}." if f in known else f"{f}: {{{f}}}." for f in [*known, *rest]))


def resolve_template(template: str | Template | None, catalog: Catalog) -> Template:
    """A ``Template`` from None (automatic), a dataset name, a template string or a ``Template``."""
    if template is None:
        return auto_template(catalog)
    if isinstance(template, Template):
        return template
    if template in DEFAULT_TEMPLATES:
        return DEFAULT_TEMPLATES[template]
    if "{" not in template:
        raise ConfigError(
            f"template {template!r} is neither a dataset name ({', '.join(sorted(DEFAULT_TEMPLATES))}) "
            "nor a format string such as '{title}.||Genres: {genres:list}.'"
        )
    return Template.parse(template)


def item_texts(catalog: Catalog, template: str | Template | None = None) -> list[str]:
    """The text of every catalogue item under ``template`` (see ``resolve_template``)."""
    return resolve_template(template, catalog).render(catalog)


# ---------------------------------------------------------------------- helpers
class _ListFormatter(string.Formatter):
    """``{field:list}`` joins a ``|``-separated string or a sequence with ``", "``."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "list":
            items = value.split("|") if isinstance(value, str) else [str(v) for v in value]
            return ", ".join(i.strip() for i in items if i.strip())
        return super().format_field(value, format_spec)


def _columns(catalog: Catalog, names: Sequence[str]) -> Mapping[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for name in names:
        if name == "item_id":
            columns[name] = catalog.item_ids
        elif name in catalog.fields:
            columns[name] = catalog.fields[name]
        elif name in catalog.attributes:
            columns[name] = catalog.attributes[name]
        else:
            available = sorted({*catalog.fields, *catalog.attributes, "item_id"})
            raise ConfigError(f"template field {name!r} is not in the catalogue; available: {available}")
    return columns


def _clean(value: Any, name: str, item_id: Any) -> Any:
    """Empty string for missing values; strict UTF-8 check; sequences kept for ``:list``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"item {item_id!r}, field {name!r}: text is not valid UTF-8 "
                f"({exc.reason} at byte {exc.start})"
            ) from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DataError(
                f"item {item_id!r}, field {name!r}: text is not valid UTF-8 "
                f"(undecodable character at position {exc.start}; "
                "decode the source as UTF-8 or with its real encoding)"
            ) from None
        return value.strip()
    if isinstance(value, np.ndarray | list | tuple):
        items = [_clean(v, name, item_id) for v in value]
        return [v for v in items if v != ""] or ""
    if isinstance(value, np.generic):
        return value.item()
    return value
