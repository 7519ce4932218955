"""Vietnamese text as it arrives: NFC or NFD, old or new tone placement, any dash, any case.

Two forms are used throughout: `canonical` keeps the words as a person reads them but in one
spelling, so two exports of the same document compare equal; `fold` throws away everything a
unit officer may or may not have typed (diacritics, case, spacing) and is only for matching.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# The five tone marks; circumflex, breve and horn are part of the vowel and never move.
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
_DASH_CHARS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DASHES = re.compile(f"[{_DASH_CHARS}]")
_SPACES = re.compile(r"[\s\u00A0\u2007\u202F\u200B\uFEFF]+")
_SPACED_DASH = re.compile(r"\s*-\s*")
_WORD = re.compile(r"\w+")
# Open syllables where old-style typing puts the tone on the first vowel (hóa, thủy, khỏe)
# and new style on the second (hoá, thuỷ, khoẻ). With a final consonant both agree (hoàng).
_MOVABLE_ENDINGS = ("oa", "oe", "uy")

# How many cell texts a reading process keeps a result for, per cached function. The texts that
# recur (a template's headings and labels, element names, unit codes: a few hundred) stay; the
# ones that do not (units' names, narratives of any length) pass through. At 65,536 a worker
# grew by ~60 MB over 100,000 files with the same hits.
CELL_TEXTS = 4096


def _new_style_tone(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    letters: list[list[str]] = []  # each letter with its combining marks
    for ch in decomposed:
        if unicodedata.combining(ch) and letters:
            letters[-1].append(ch)
        else:
            letters.append([ch])
    if len(letters) < 2:
        return word
    first, second = letters[-2], letters[-1]
    base = (first[0] + second[0]).lower()
    first_tone = [m for m in first[1:] if m in _TONE_MARKS]
    if base not in _MOVABLE_ENDINGS or not first_tone or len(first) != 2:
        return word
    if len(second) != 1:  # the second vowel already carries a mark
        return word
    if base == "uy" and len(letters) >= 3 and letters[-3][0].lower() == "q":
        return word
    first.remove(first_tone[0])
    second.append(first_tone[0])
    return unicodedata.normalize("NFC", "".join("".join(letter) for letter in letters))


# A language of some 7,000 syllables, none longer than 7 letters (nghiêng): each is placed once
# per process. Longer words (codes, run-together text) pass through, so no file grows the cache.
_placed = lru_cache(maxsize=8192)(_new_style_tone)
_SYLLABLE_LETTERS = 8  # the longest syllable's and one more


def _retoned(match: re.Match[str]) -> str:
    word = match.group(0)
    return _placed(word) if len(word) <= _SYLLABLE_LETTERS else _new_style_tone(word)


def canonical(text: str) -> str:
    """One spelling of a text: NFC, new-style tone placement, `-` for every dash, single spaces."""
    if text.isascii():  # no mark, no dash but `-`, no space but ASCII's
        return _SPACES.sub(" ", text).strip()
    text = unicodedata.normalize("NFC", text)
    text = _DASHES.sub("-", text)
    text = _SPACES.sub(" ", text).strip()
    return _WORD.sub(_retoned, text)


class _Folding(dict[int, int | str | None]):
    """`str.translate`'s table for `fold`, over a decomposed (NFD) text: marks dropped, `đ` as
    `d`, every dash as `-`; other characters kept, each looked up once (those of the
    languages a unit writes in; a rarer one is looked up each time, so no file grows it)."""

    def __missing__(self, char: int) -> int | None:
        kept = None if unicodedata.combining(chr(char)) else char
        if char < 0x3000:
            self[char] = kept
        return kept


_FOLDING = _Folding({ord(d): "-" for d in _DASH_CHARS} | {ord("đ"): "d", ord("Đ"): "D"})


def fold(text: str) -> str:
    """A matching key: no diacritics, lower case, `đ` as `d`, one spacing around dashes.

    The key of a text and of its `canonical` spelling are the same: where a tone mark sits does
    not matter once marks are dropped, so the tones are not moved first.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFD", text).translate(_FOLDING)
    stripped = _SPACED_DASH.sub(" - ", text.lower())
    return _SPACES.sub(" ", stripped).strip()


def decode_text(raw: bytes) -> str:
    """Decode a text file as Vietnamese offices save them: UTF-8 (BOM or not), UTF-16 with a
    BOM, else Windows-1258 — whose tone marks are combining characters, hence `canonical`."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return unicodedata.normalize("NFC", raw.decode("cp1258", errors="replace"))
