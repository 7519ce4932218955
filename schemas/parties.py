"""Lead and coordinator phrases resolved to parties, and parties to the registry's units."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.text import fold
from schemas.errors import ProblemList
from schemas.model import Party, Registry, Unit
from schemas.yamlio import read_yaml

_SEPARATORS = re.compile(r"[;,.:/()]+")


@dataclass(frozen=True)
class Parties:
    """The alias table of `parties.yaml`."""

    parties: tuple[Party, ...]
    fillers: tuple[str, ...]

    def resolve(self, phrase: str) -> tuple[tuple[str, ...], str]:
        """The parties a phrase names, in order, and what is left that named nothing."""
        text = fold(phrase)
        found: list[tuple[int, str]] = []
        for alias, party_id in self._aliases:
            pattern = rf"(?<!\w){re.escape(alias)}(?!\w)"
            for match in re.finditer(pattern, text):
                found.append((match.start(), party_id))
            text = re.sub(pattern, lambda m: ";" * len(m.group(0)), text)
        leftover = _SEPARATORS.sub(" ", text)
        for filler in self._fillers:
            leftover = re.sub(rf"(?<!\w){re.escape(filler)}(?!\w)", " ", leftover)
        ordered = dict.fromkeys(party for _, party in sorted(found))
        return tuple(ordered), " ".join(leftover.split())

    def units_of(
        self,
        party_id: str,
        registry: Registry,
        folded: Sequence[tuple[Unit, str]] | None = None,
    ) -> tuple[Unit, ...]:
        """The active units of the registry a party stands for.

        Args:
            party_id: the party.
            registry: the units.
            folded: the registry's active units with their folded names, when the caller
                asks for many parties (see `Schema.party_units`).
        """
        party = self._by_id[party_id]
        if folded is None:
            folded = [(u, fold(u.name)) for u in registry.units if u.active]
        active = [u for u, _ in folded]
        if party.kind == "class":
            return tuple(u for u in active if u.type in party.unit_types)
        keys = {fold(p) for p in party.phrases}
        named = [u for u, name in folded if _names(name, keys)]
        if not named and party.unit_type:
            of_type = [u for u in active if u.type == party.unit_type]
            named = of_type if len(of_type) == 1 else []
        return tuple(named)

    @cached_property
    def _aliases(self) -> list[tuple[str, str]]:
        pairs = {(fold(phrase), p.id) for p in self.parties for phrase in p.phrases}
        return sorted(pairs, key=lambda pair: (-len(pair[0]), pair[0]))

    @cached_property
    def _fillers(self) -> list[str]:
        return sorted((fold(f) for f in self.fillers), key=len, reverse=True)

    @cached_property
    def _by_id(self) -> dict[str, Party]:
        return {p.id: p for p in self.parties}


def _names(name: str, keys: Iterable[str]) -> bool:
    return any(name == key or name.startswith(key + " ") for key in keys)


def load_parties(path: Path) -> Parties:
    """Read and check `parties.yaml`: unique ids, known unit types, no phrase naming two parties."""
    from schemas.model import UNIT_TYPES

    data, problems = read_yaml(path), ProblemList()
    parties: list[Party] = []
    owner: dict[str, str] = {}
    for index, item in enumerate(data.get("parties") or [], start=1):
        party = problems.model(Party, item, str(path), f"parties[{index}]")
        if party is None:
            continue
        if party.id in {p.id for p in parties}:
            problems.add(str(path), f"parties[{index}]", f"mã «{party.id}» bị trùng")
        for t in (*party.unit_types, *([party.unit_type] if party.unit_type else [])):
            if t not in UNIT_TYPES:
                problems.add(str(path), f"parties[{index}]", f"loại đơn vị «{t}» không có")
        for phrase in party.phrases:
            other = owner.setdefault(fold(phrase), party.id)
            if other != party.id:
                problems.add(str(path), f"parties[{index}]", f"cụm «{phrase}» đã thuộc «{other}»")
        parties.append(party)
    problems.raise_if_any()
    return Parties(tuple(parties), tuple(data.get("fillers") or ()))
