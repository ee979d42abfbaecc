"""One small class per channel, each with a single `notify()` (healthchecks' Transport
pattern). A transport only talks to its peer: the Delivery row around it is written before
and updated after by `services.delivery_send`, which also owns retries."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template

from .models import Channel, Notification, NotificationPreference
from .webhooks import WebhookRefused, webhook_post


class TransportError(Exception):
    """The peer refused or did not answer. `permanent` errors (no address, no webhook) are
    not retried: the next attempt would fail the same way."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Message:
    """What every channel says, rendered once by the service."""

    title: str
    text: str
    url: str
    # Email templates: "anomaly" or "digest", and their context.
    template: str
    context: dict = field(default_factory=dict)
    anomaly_id: object = None


class Transport:
    # True when notify() only writes to our own database: the service then wraps it and the
    # "sent" update in one transaction, so a crash in between can never show it twice.
    transactional = False

    def __init__(self, preference: NotificationPreference):
        self.preference = preference
        self.user = preference.user

    def notify(self, message: Message) -> None:
        raise NotImplementedError


class InAppTransport(Transport):
    transactional = True

    def notify(self, message: Message) -> None:
        Notification.objects.create(
            user=self.user,
            anomaly_id=message.anomaly_id,
            title=message.title[:200],
            body=message.text,
            url=message.url[:500],
        )


class EmailTransport(Transport):
    def notify(self, message: Message) -> None:
        if not self.user.email:
            raise TransportError("the user has no email address", permanent=True)
        context = {**message.context, "user": self.user, "url": message.url}
        name = f"notifications/emails/{message.template}"
        # A subject must be one line: a newline in it would be a header injection.
        subject = " ".join(render_plain_text(f"{name}_subject.txt", context).split())
        body = render_plain_text(f"{name}_body.txt", context)
        email = EmailMultiAlternatives(subject, body, to=[self.user.email])
        try:
            email.send()
        except OSError as exc:  # smtplib's errors and socket errors are all OSErrors
            raise TransportError(f"email: {type(exc).__name__}: {exc}") from exc


class SlackTransport(Transport):
    def notify(self, message: Message) -> None:
        url = self.preference.slack_webhook_url
        if not url:
            raise TransportError("no Slack webhook URL", permanent=True)
        # Message text is plain; the bold title is our only markup.
        text = f"*{slack_escape(message.title)}*\n{slack_escape(message.text)}"
        body = json.dumps({"text": text}).encode()
        try:
            status = webhook_post(url, body, timeout=settings.SLACK_TIMEOUT_SECONDS)
        except WebhookRefused as exc:
            # Saved before the rules, or the allow-list changed since: it would never pass.
            raise TransportError(f"Slack webhook refused: {exc}", permanent=True) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"Slack unreachable: {exc}") from exc
        if 300 <= status < 400:
            raise TransportError(
                f"Slack answered HTTP {status}, a redirect: webhooks never follow one",
                permanent=True,
            )
        if not 200 <= status < 300:
            raise TransportError(f"Slack answered HTTP {status}")


def slack_escape(text: str) -> str:
    """Slack's own escaping for message text: it reads <...> as a link or a mention (a
    customer named "<!channel>" would ping everyone) and & as the start of one of these three
    entities. URLs in the text are escaped too, which is how Slack writes them itself."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_plain_text(name: str, context: dict) -> str:
    """A .txt template without HTML autoescaping: the engine's default would put "A&amp;B"
    in a subject or body that no browser ever decodes."""
    return get_template(name).template.render(Context(context, autoescape=False))


TRANSPORTS: dict[str, type[Transport]] = {
    Channel.IN_APP: InAppTransport,
    Channel.EMAIL: EmailTransport,
    Channel.SLACK: SlackTransport,
}
