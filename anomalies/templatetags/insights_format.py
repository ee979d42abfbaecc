"""How the insights page writes its figures: shares as percentages, lifts as multiples, and a
dash for a figure that does not exist (a rate of nothing, a lift without a base)."""

from django import template

register = template.Library()

MISSING = "—"


@register.filter
def pct(value) -> str:
    """0.25 -> "25%", 0.025 -> "2.5%" (small rates keep a decimal), None -> "—"."""
    if value is None or value == "":
        return MISSING
    if 0 < value < 0.1:
        return f"{value:.1%}"
    return f"{value:.0%}"


@register.filter
def times(value) -> str:
    """A lift: 2.04 -> "2.0×", 12.4 -> "12×", None -> "—"."""
    if value is None or value == "":
        return MISSING
    return f"{value:.0f}×" if value >= 10 else f"{value:.1f}×"
