"""Names a unit may write instead of codes: its own name, an alias, an element's name.

The reader runs in worker processes that know nothing of the schema; the calling process builds
one `Names` from the unit registry and the element catalog and sends it with every file. Keys
are folded (`core.text.fold`) with punctuation reduced to spaces, so `Trường Tiểu học Nghĩa
Hưng A`, `TRUONG TIEU HOC NGHIA HUNG A` and `Trường tiểu học  Nghĩa Hưng – A` are one name.
A name is matched whole, never by a part of it: where a reading would be a guess, the reader
asks with the candidates instead.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from core.text import CELL_TEXTS, fold

_NON_WORD = re.compile(r"[^\w]+")
_PARENTHESES = re.compile(r"\([^)]*\)")


@lru_cache(maxsize=CELL_TEXTS)
def name_key(text: str) -> str:
    """The matching key of a name: folded, punctuation as spaces, single spaces."""
    return _NON_WORD.sub(" ", fold(text)).strip()


@cache
def names_code_digest() -> str:
    """SHA-256 of this module's code, which decides what `Names.of` builds: a `Names` kept
    from other code is not used as if this code had built it."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _element_key(text: str) -> str:
    # `Số hội nghị (cuộc)`: a measure or note in parentheses is not part of the name.
    return name_key(_PARENTHESES.sub(" ", text))


def _add(index: dict[str, tuple[str, ...]], key: str, code: str) -> None:
    if key and code not in index.get(key, ()):
        index[key] = (*index.get(key, ()), code)


@dataclass(frozen=True, slots=True)
class Names:
    """Unit and element names the reader resolves to codes.

    `units` maps the key of a unit's code, registry name and every alias (`Tên khác`) to the
    codes it may stand for; `elements` maps the key of an element's name to its codes. A key
    with several codes is ambiguous.
    """

    units: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unit_labels: dict[str, str] = field(default_factory=dict)
    elements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    element_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        units: Iterable[tuple[str, str, Iterable[str]]] = (),
        elements: Iterable[tuple[str, str]] = (),
    ) -> Names:
        """Builds the lookups.

        Args:
            units: (code, registry name, aliases) of every unit.
            elements: (code, name) of every data element.
        """
        names = cls()
        for code, name, aliases in units:
            for text in (code, name, *aliases):
                _add(names.units, name_key(text), code)
            names.unit_labels[code] = f"{name} ({code})"
        for code, name in elements:
            _add(names.elements, _element_key(name), code)
            names.element_labels[code] = f"{code} {name}"
        return names

    def unit_codes(self, text: str) -> tuple[str, ...]:
        """The units a code, name or alias stands for: none, one, or several (ambiguous)."""
        return self.units.get(name_key(text), ())

    def element_codes(self, text: str) -> tuple[str, ...]:
        """The elements a name stands for: none, one, or several (ambiguous)."""
        return self.elements.get(_element_key(text), ())

    def nearest_units(self, text: str, count: int = 3) -> list[str]:
        """Labels (`Thôn Đông (THON-01)`) of the units whose names are nearest to `text`."""
        return _nearest(name_key(text), self.units, self.unit_labels, count)

    def nearest_elements(self, text: str, count: int = 3) -> list[str]:
        """Labels (`1.1.1 Số hội nghị…`) of the elements whose names are nearest to `text`."""
        return _nearest(_element_key(text), self.elements, self.element_labels, count)

    def unit_labels_of(self, codes: Iterable[str]) -> list[str]:
        """Labels of the given unit codes."""
        return [self.unit_labels.get(code, code) for code in codes]

    def element_labels_of(self, codes: Iterable[str]) -> list[str]:
        """Labels of the given element codes."""
        return [self.element_labels.get(code, code) for code in codes]


def _nearest(
    key: str, index: dict[str, tuple[str, ...]], labels: dict[str, str], count: int
) -> list[str]:
    scored = sorted(
        ((difflib.SequenceMatcher(None, key, other).ratio(), other) for other in index),
        key=lambda pair: -pair[0],
    )
    found: list[str] = []
    for _, other in scored:
        for code in index[other]:
            label = labels.get(code, code)
            if label not in found:
                found.append(label)
        if len(found) >= count:
            break
    return found[:count]
