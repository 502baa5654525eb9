"""The preparation log: every surprise in the raw data, said once, never dropped silently."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LogEntry", "PreparationLog"]


@dataclass(frozen=True)
class LogEntry:
    """One finding.

    Parameters
    ----------
    municipality
        Municipality code the finding concerns, or ``"all"``.
    topic
        Short stable key, e.g. ``"duplicate_agents"``, so that entries can be grouped.
    message
        One line for a reader.
    """

    municipality: str
    topic: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The entry as a JSON-ready mapping."""
        return {"municipality": self.municipality, "topic": self.topic, "message": self.message}


@dataclass
class PreparationLog:
    """An ordered list of findings, in the order the preparation met them."""

    entries: list[LogEntry] = field(default_factory=list)

    def add(self, municipality: str, topic: str, message: str) -> None:
        """Record one finding."""
        self.entries.append(LogEntry(municipality, topic, message))

    def for_municipality(self, code: str) -> list[LogEntry]:
        """The findings about one municipality."""
        return [e for e in self.entries if e.municipality == code]

    def lines(self) -> list[str]:
        """The findings as printable lines, ``[code] topic: message``."""
        return [f"[{e.municipality}] {e.topic}: {e.message}" for e in self.entries]
