"""The plain-language summary at the top of a report ("The plan reaches N more people …")."""

from __future__ import annotations

from typing import Any

__all__ = ["headline", "money", "people", "service_lines", "share_text", "status_line"]


def people(value: float | None) -> str:
    """``1,234`` people, or ``unknown``."""
    return "unknown" if value is None else f"{value:,.0f}"


def share_text(value: float | None) -> str:
    """``84.5 %``, or ``unknown``."""
    return "unknown" if value is None else f"{100 * value:.1f} %"


def money(value: float | None, currency: str) -> str:
    """``12,500 SEK``, or ``unknown``."""
    return "unknown" if value is None else f"{value:,.0f} {currency}"


def _name(service: str, values: dict[str, Any]) -> str:
    label = values.get("label") or ""
    return f"{service} ({label})" if label and label != service else service


def headline(summary: dict[str, Any]) -> str:
    """One sentence: the service the plan helps most, how many more people, what it costs."""
    services = summary.get("services", {})
    cost = summary.get("cost", {})
    currency = cost.get("currency", "SEK")
    if summary.get("status") not in ("optimal", "feasible"):
        status, message = summary.get("status"), summary.get("message", "")
        return f"No plan was found: the model is {status}. {message}".strip()
    gains = [
        (values["gain"], name, values)
        for name, values in services.items()
        if values.get("gain") is not None
    ]
    annual, net = cost.get("annual") or 0.0, (cost.get("net") or {}).get("annual")
    price = f"{money(annual, currency)} a year"
    if net is not None and abs(net - annual) > 0.5:
        price += f" ({money(net, currency)} after grants)"
    one_off = cost.get("one_off") or 0.0
    if one_off > 0:
        price += f" and {money(one_off, currency)} once"
    if not gains or max(gains, key=lambda item: item[0])[0] <= 0:
        return f"The plan keeps today's coverage for {price}."
    gain, name, values = max(gains, key=lambda item: item[0])
    return (
        f"The plan reaches {people(gain)} more people within {values['threshold']:g} "
        f"{values['unit']} of {_name(name, values)} for {price}."
    )


def service_lines(summary: dict[str, Any]) -> list[str]:
    """One line per service: people and share within the threshold, today and with the plan."""
    lines = []
    for name, values in summary.get("services", {}).items():
        within = f"within {values['threshold']:g} {values['unit']}"
        if not values.get("register", True) and values.get("assumed_at"):
            lines.append(
                f"{_name(name, values)}: {people(values['population_before'])} → "
                f"{people(values['population_after'])} people {within} "
                f"({share_text(values['share_before'])} → {share_text(values['share_after'])}); "
                f"no register: today assumed at every {' or '.join(values['assumed_at'])} site."
            )
            continue
        if not values.get("register", True):
            lines.append(
                f"{_name(name, values)}: today unknown (no register of existing points); with "
                f"the plan's points {people(values['population_after'])} people "
                f"({share_text(values['share_after'])}) {within}."
            )
            continue
        lines.append(
            f"{_name(name, values)}: {people(values['population_before'])} → "
            f"{people(values['population_after'])} people {within} "
            f"({share_text(values['share_before'])} → {share_text(values['share_after'])})."
        )
    return lines


def status_line(summary: dict[str, Any]) -> str:
    """How good the plan provably is."""
    status = summary.get("status")
    if status == "optimal":
        return "The plan is proven optimal for the scenario's objective and rules."
    if status == "feasible":
        gap = summary.get("gap")
        within = "" if gap is None else f", within {100 * gap:.2g} % of the best possible"
        return f"The plan is feasible but not proven optimal{within}."
    return f"No plan: {status}. {summary.get('diagnosis') or summary.get('message') or ''}".strip()
