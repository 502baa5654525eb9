"""Recognise grocery stores and fuel stations from the host names of postal agents.

There is no open register of grocery stores or fuel stations here. In rural Sweden the postal
agent is usually the village shop or the fuel station, and the PTS register names the host
business (column ``OMBUD``). A host counts as a grocery store, or a fuel station, when its
name matches one of the patterns below. The patterns are regular expressions applied to the
cleaned name (:func:`clean_host_name`): lower case, apostrophe variants unified, and any
former brand ("f.d. Tempo", "gml. OK/Q8", "före detta ...") removed, because a former brand
says what the shop no longer is.

Chains that are kiosks or tobacconists (Pressbyrån, MyWay, Momangen) and convenience chains
without a clear grocery range (Frendo) are deliberately not matched. Direkten, a convenience
chain, is matched as the project asked. A name matches a word pattern only as a whole word
(``\\bcoop\\b``); a few Swedish compounds are matched inside words on purpose: ``livs``
(Minilivs, Närlivs), ``lanthand`` (Lanthandeln, and names cut short such as "Lanthand"),
``mack`` (Bureåmacken), ``bensin`` (Bensinstation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "FUEL_PATTERNS",
    "GROCERY_PATTERNS",
    "NamePattern",
    "clean_host_name",
    "is_fuel_host",
    "is_grocery_host",
    "matching_labels",
]


@dataclass(frozen=True)
class NamePattern:
    """One recognised kind of host name.

    Parameters
    ----------
    label
        What the pattern recognises, for the documentation and the log (``"ICA"``).
    pattern
        Regular expression, searched in the cleaned lower-case host name.
    """

    label: str
    pattern: str

    def __post_init__(self) -> None:
        re.compile(self.pattern)  # a malformed pattern fails here, not at first use

    def matches(self, cleaned_name: str) -> bool:
        """Whether the pattern occurs in a name cleaned by :func:`clean_host_name`."""
        return re.search(self.pattern, cleaned_name) is not None


GROCERY_PATTERNS: tuple[NamePattern, ...] = (
    NamePattern("ICA", r"\bica(?:supermarket|kvantum|maxi|nära)?(?![a-zåäöéü])"),
    NamePattern("Coop", r"\bcoop\b"),
    NamePattern("Konsum", r"\bkonsum\b"),
    NamePattern("Hemköp", r"\bhemköp\b"),
    NamePattern("Willys", r"\bwillys\b"),
    NamePattern("Lidl", r"\blidl\b"),
    NamePattern("Netto", r"\bnetto\b"),
    NamePattern("City Gross", r"\bcity\s*gross\b"),
    NamePattern("Tempo", r"\btempo\b"),
    NamePattern("Matöppet", r"\bmat\s*öppet\b"),
    NamePattern("Handlar'n", r"\bhandlar(?:\W?n)?\b"),
    NamePattern("Nära (ICA Nära, Coop Nära, Nära dej)", r"\bnära\b"),
    NamePattern("Direkten", r"\bdirekten\b"),
    NamePattern("Östenssons", r"\böstenssons\b"),
    NamePattern("Eurocash", r"\beurocash\b"),
    NamePattern("Lanthandel", r"lanthand"),
    NamePattern("Handelsbod", r"handelsbod"),
    NamePattern("Diversehandel", r"diversehandel"),
    NamePattern("Handel (whole word)", r"\bhandeln?\b"),
    NamePattern("Livs (also Minilivs, Närlivs)", r"livs\b"),
    NamePattern("Matbutik", r"matbutik"),
    NamePattern("Snabbköp", r"snabbköp"),
    NamePattern("Affär (whole word)", r"\baffär(?:e?n)?\b"),
)
"""Host names of grocery stores (dagligvarubutiker)."""

FUEL_PATTERNS: tuple[NamePattern, ...] = (
    NamePattern("OKQ8", r"\bok\W*q8\b"),
    NamePattern("OK (first word)", r"^ok\b(?!\W*q8)"),
    NamePattern("Circle K", r"\bcircle\s*k\b"),
    NamePattern("Preem", r"\bpreem\b"),
    NamePattern("St1", r"\bst\s?1\b"),
    NamePattern("Shell", r"\bshell\b"),
    NamePattern("Ingo", r"\bingo\b"),
    NamePattern("Tanka", r"\btanka\b"),
    NamePattern("Qstar", r"\bq\W?star\b"),
    NamePattern("Statoil", r"\bstatoil\b"),
    NamePattern("Din-X", r"\bdin\W?x\b"),
    NamePattern("Gulf", r"\bgulf"),
    NamePattern("Uno-X", r"\buno\W?x\b"),
    NamePattern("Bilisten", r"\bbilisten\b"),
    NamePattern("Bensin", r"bensin"),
    NamePattern("Mack (also -macken)", r"mack(?:en)?\b"),
    NamePattern("Pump", r"\bpump(?:en)?\b"),
    NamePattern("Drivmedel", r"drivmedel"),
)
"""Host names of fuel stations (drivmedel)."""

_APOSTROPHES = str.maketrans({"´": "'", "`": "'", "’": "'", "‘": "'"})
_FORMER_BRAND = re.compile(r"\b(?:f\.?\s?d|gml|före detta)\b\.?[^)]*")
_SPACES = re.compile(r"\s+")


def clean_host_name(name: str) -> str:
    """Lower-case a host name, unify apostrophes and drop former brands.

    ``"Lilla Essingen Livs (F.D. Tempo)"`` becomes ``"lilla essingen livs ()"``.
    """
    text = name.casefold().translate(_APOSTROPHES)
    text = _FORMER_BRAND.sub("", text)
    return _SPACES.sub(" ", text).strip()


def matching_labels(name: str, patterns: Sequence[NamePattern]) -> list[str]:
    """Labels of the patterns that a host name matches, in pattern order."""
    cleaned = clean_host_name(name)
    return [p.label for p in patterns if p.matches(cleaned)]


def is_grocery_host(name: str, patterns: Sequence[NamePattern] = GROCERY_PATTERNS) -> bool:
    """Whether a host name is that of a grocery store."""
    return bool(matching_labels(name, patterns))


def is_fuel_host(name: str, patterns: Sequence[NamePattern] = FUEL_PATTERNS) -> bool:
    """Whether a host name is that of a fuel station."""
    return bool(matching_labels(name, patterns))
