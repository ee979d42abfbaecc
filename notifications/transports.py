"""One small class per channel, each with a single `notify()` (healthchecks' Transport
pattern). A transport only talks to its peer: the Delivery row around it is written before
and updated after by `services.delivery_send`, which also owns retries.

A channel is its transport plus its settings (columns of NotificationPreference): the
transport alone says whether a user has it on, and what its settings remember about its
sends (Slack's failing webhook). Nothing outside this module names a channel; CONTRIBUTING.md
says how to add one."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template
from django.utils import timezone

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
    # The Channel value of Delivery rows on this channel.
    kind: str
    # True when notify() only writes to our own database: the service then wraps it and the
    # "sent" update in one transaction, so a crash in between can never show it twice.
    transactional = False

    def __init__(self, preference: NotificationPreference):
        self.preference = preference
        self.user = preference.user

    @classmethod
    def is_enabled_for(cls, preference: NotificationPreference) -> bool:
        """Whether the user has this channel on, with what it needs to send."""
        raise NotImplementedError

    @classmethod
    def preference_changing(cls, preference: NotificationPreference, values: dict) -> None:
        """Called before `values` are set on `preference` and saved: a channel resets on it
        what it remembered about its old settings."""

    def notify(self, message: Message) -> None:
        raise NotImplementedError

    def on_sent(self) -> None:
        """A delivery on this channel was sent."""

    def on_failed(self) -> None:
        """A delivery on this channel failed for good."""


class InAppTransport(Transport):
    kind = Channel.IN_APP
    transactional = True

    @classmethod
    def is_enabled_for(cls, preference: NotificationPreference) -> bool:
        return preference.in_app

    def notify(self, message: Message) -> None:
        Notification.objects.create(
            user=self.user,
            anomaly_id=message.anomaly_id,
            title=message.title[:200],
            body=message.text,
            url=message.url[:500],
        )


class EmailTransport(Transport):
    kind = Channel.EMAIL

    @classmethod
    def is_enabled_for(cls, preference: NotificationPreference) -> bool:
        return preference.email

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
    kind = Channel.SLACK

    @classmethod
    def is_enabled_for(cls, preference: NotificationPreference) -> bool:
        return preference.slack and bool(preference.slack_webhook_url)

    @classmethod
    def preference_changing(cls, preference: NotificationPreference, values: dict) -> None:
        if values.get("slack_webhook_url", preference.slack_webhook_url) != (
            preference.slack_webhook_url
        ):
            # The failing-webhook warning is about the old URL: a new one has not failed yet.
            preference.slack_failing_since = None

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

    def on_sent(self) -> None:
        # The webhook works again: stop telling its owner it is broken.
        NotificationPreference.objects.filter(
            pk=self.preference.pk, slack_failing_since__isnull=False
        ).update(slack_failing_since=None)

    def on_failed(self) -> None:
        # Shown to its owner on the bell and the preferences page until a send works again.
        NotificationPreference.objects.filter(
            pk=self.preference.pk, slack_failing_since__isnull=True
        ).update(slack_failing_since=timezone.now())


def slack_escape(text: str) -> str:
    """Slack's own escaping for message text: it reads <...> as a link or a mention (a
    customer named "<!channel>" would ping everyone) and & as the start of one of these three
    entities. URLs in the text are escaped too, which is how Slack writes them itself."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_plain_text(name: str, context: dict) -> str:
    """A .txt template without HTML autoescaping: the engine's default would put "A&amp;B"
    in a subject or body that no browser ever decodes."""
    return get_template(name).template.render(Context(context, autoescape=False))


# Every channel, in the order its deliveries are written.
TRANSPORTS: dict[str, type[Transport]] = {
    transport.kind: transport for transport in (InAppTransport, EmailTransport, SlackTransport)
}


def enabled_channels(preference: NotificationPreference) -> list[str]:
    """The kinds of the channels `preference` has on."""
    return [kind for kind, transport in TRANSPORTS.items() if transport.is_enabled_for(preference)]
