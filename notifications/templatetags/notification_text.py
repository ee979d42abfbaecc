"""A notification's body line by line, its link lines marked, so the template makes them
links and leaves (and escapes) everything else as text."""

import re

from django import template

register = template.Library()

# A body line that is a URL and nothing else: the messages put each anomaly's link on its
# own line. Only such lines become links, so a customer called "acme.io" stays text.
_LINK_LINE = re.compile(r"^https?://\S+$")


@register.filter
def body_lines(body: str) -> list[dict]:
    lines = (raw.strip() for raw in body.splitlines())
    return [{"text": line, "link": bool(_LINK_LINE.match(line))} for line in lines]
