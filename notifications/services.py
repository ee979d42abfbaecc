"""Notification workflows: decide who hears about the scans' news at once (the outbox of
NotificationRequests), turn the outbox into deliveries, send one delivery, and build the daily
digest. Every message is a Delivery row written before sending and updated after, and the
database's unique constraints (one request per anomaly; one delivery per anomaly, user and
channel; one digest a day a channel) are what stop a rescan, a retry or a second worker from
sending twice."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from anomalies.detection.vocabulary import SEVERITY_RANK
from anomalies.models import AnomalyStatus, UsageAnomaly
from anomalies.services.scans import scan_news_take
from anomalies.text import anomaly_sentence
from customers.models import Customer, Severity

from .models import Delivery, NotificationPreference, NotificationRequest
from .transports import TRANSPORTS, Message, TransportError, enabled_channels

logger = logging.getLogger(__name__)

# Requests claimed by one dispatch; the minute beat picks up the rest.
DISPATCH_BATCH = 500
DIGEST_FALLBACK_WINDOW = dt.timedelta(hours=24)


def preference_for(user) -> NotificationPreference:
    """The user's preferences, created with the defaults on first use."""
    preference, _ = NotificationPreference.objects.get_or_create(user=user)
    return preference


def preference_update(
    *, preference: NotificationPreference, values: dict
) -> NotificationPreference:
    """Save the page's or the API's validated values on the user's row."""
    for transport in TRANSPORTS.values():
        transport.preference_changing(preference, values)
    for name, value in values.items():
        setattr(preference, name, value)
    preference.save()
    return preference


def _wants_immediately(min_severity: str, severity: str) -> bool:
    """Critical always; a lesser severity when the user asked for it at once."""
    if severity == Severity.CRITICAL:
        return True
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[min_severity]


def requests_create(*, anomalies) -> int:
    """One outbox row per open anomaly whose CSM wants to hear about it at once (critical
    always, warnings or everything when their preferences say so; the rest waits for the
    digest). A request is unique per anomaly: news of the same anomaly again (a rescan, a
    retry) adds nothing. Returns how many anomalies were asked about."""
    candidates = [a for a in anomalies if a.status == AnomalyStatus.OPEN]
    if not candidates:
        return 0
    csm_of = dict(
        Customer.objects.filter(pk__in={a.customer_id for a in candidates}).values_list(
            "pk", "csm_id"
        )
    )
    # Read, not created: a user without a row has the defaults.
    min_severity: dict[int | None, str] = dict(
        NotificationPreference.objects.filter(user_id__in=set(csm_of.values())).values_list(
            "user_id", "immediate_min_severity"
        )
    )
    default: str = NotificationPreference._meta.get_field("immediate_min_severity").default
    requests = [
        NotificationRequest(anomaly=a, user_id=csm_of.get(a.customer_id))
        for a in candidates
        if _wants_immediately(min_severity.get(csm_of.get(a.customer_id), default), a.severity)
    ]
    NotificationRequest.objects.bulk_create(requests, ignore_conflicts=True, batch_size=500)
    return len(requests)


def unowned_alert_recipients() -> list:
    """Who hears about the critical anomalies of an account nobody owns: the active users
    TREMOR_UNOWNED_ALERTS_TO names (by username, or by email address whatever its case), or
    every active staff user when it names nobody. A name that matches no active user is
    logged, not fatal: the others still hear."""
    users = get_user_model().objects.filter(is_active=True).order_by("pk")
    names = [name.strip() for name in settings.TREMOR_UNOWNED_ALERTS_TO if name.strip()]
    if not names:
        return list(users.filter(is_staff=True))
    wanted = Q(username__in=names)
    for name in names:
        if "@" in name:
            wanted |= Q(email__iexact=name)
    found = list(users.filter(wanted))
    known = {u.username for u in found} | {u.email.lower() for u in found}
    unknown = [name for name in names if name not in known and name.lower() not in known]
    if unknown:
        logger.warning("TREMOR_UNOWNED_ALERTS_TO names no active user: %s", ", ".join(unknown))
    return found


def requests_create_from_scans() -> int:
    """Requests for the news of finished scan chunks (see anomalies' scan_news_take). Taking
    the news and writing its requests commit together: news is never lost between the two,
    and never taken twice."""
    with transaction.atomic():
        ids = scan_news_take()
        if not ids:
            return 0
        return requests_create(anomalies=UsageAnomaly.objects.filter(pk__in=set(ids)))


def requests_dispatch() -> list[int]:
    """Claim unprocessed NotificationRequests and write one immediate Delivery per enabled
    channel of the CSM. Returns the ids of the pending deliveries to send (the caller enqueues
    them after commit)."""
    with transaction.atomic():
        # skip_locked: a second dispatcher takes other rows instead of waiting (PostgreSQL;
        # SQLite serialises writers anyway). A request is unique per anomaly, so only its
        # claimer ever writes that anomaly's deliveries.
        claimed = list(
            NotificationRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(processed_at__isnull=True)
            .select_related("anomaly__customer", "user")
            .order_by("created_at")[:DISPATCH_BATCH]
        )
        if not claimed:
            return []
        to_create = []
        fallback = None  # read once, when an unowned account's critical alert needs it
        for request in claimed:
            anomaly = request.anomaly
            # A dismissed, resolved or suppressed anomaly: nothing to say any more.
            if anomaly.status != AnomalyStatus.OPEN:
                continue
            recipients = [request.user] if request.user is not None else []
            if not recipients and _unowned_critical(anomaly):
                # Nobody owns the account: its critical alerts go to ops, not to nobody.
                if fallback is None:
                    fallback = unowned_alert_recipients()
                recipients = fallback
            for user in recipients:
                preference = preference_for(user)
                if not _wants_immediately(preference.immediate_min_severity, anomaly.severity):
                    continue
                to_create += [
                    Delivery(
                        user=user, channel=channel, kind=Delivery.Kind.IMMEDIATE, anomaly=anomaly
                    )
                    for channel in enabled_channels(preference)
                ]
        Delivery.objects.bulk_create(to_create, ignore_conflicts=True)
        NotificationRequest.objects.filter(pk__in=[r.pk for r in claimed]).update(
            processed_at=timezone.now()
        )
        return list(
            Delivery.objects.filter(
                kind=Delivery.Kind.IMMEDIATE,
                status=Delivery.Status.PENDING,
                anomaly_id__in=[r.anomaly_id for r in claimed],
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _unowned_critical(anomaly: UsageAnomaly) -> bool:
    return anomaly.customer.csm_id is None and anomaly.severity == Severity.CRITICAL


# A delivery never tried this long after it was written lost its task (the broker was down
# when it was enqueued): the minute beat sends it again.
STRANDED_AFTER = dt.timedelta(minutes=10)


def deliveries_stranded(*, now: dt.datetime) -> list[int]:
    """Pending deliveries that were never attempted and are older than STRANDED_AFTER."""
    return list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            attempts=0,
            created_at__lt=now - STRANDED_AFTER,
        ).values_list("pk", flat=True)[:1000]
    )


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def anomaly_url(anomaly: UsageAnomaly) -> str:
    return site_url(f"/customers/{anomaly.customer_id}/?metric={anomaly.metric_type}")


def _anomaly_facts(anomaly: UsageAnomaly) -> dict:
    sentence = anomaly_sentence(
        anomaly_type=anomaly.anomaly_type,
        metric=anomaly.metric_type,
        deviation_percent=float(anomaly.deviation_percent),
    )
    return {
        "anomaly": anomaly,
        "customer": anomaly.customer,
        "sentence": sentence,
        "since": anomaly.start_date,
        "baseline": f"{float(anomaly.baseline_value):,.0f}",
        "actual": f"{float(anomaly.actual_value):,.0f}",
        "cause": anomaly.possible_cause,
        "url": anomaly_url(anomaly),
    }


def _anomaly_line(facts: dict) -> str:
    line = (
        f"{facts['customer'].name}: {facts['sentence']} since {facts['since']:%Y-%m-%d}, "
        f"baseline {facts['baseline']}/day, now {facts['actual']}/day"
    )
    if facts["cause"]:
        line += f"; possible cause: {facts['cause']}"
    return line


def _anomaly_message(anomaly: UsageAnomaly) -> Message:
    facts = _anomaly_facts(anomaly)
    severity = anomaly.get_severity_display()
    title = f"{severity}: {facts['sentence']} at {facts['customer'].name}"
    text = f"{_anomaly_line(facts)}.\n{facts['url']}"
    unowned = ""
    if anomaly.customer.csm_id is None:
        title += " (no owner)"
        unowned = UNOWNED_NOTE.format(name=facts["customer"].name)
        text = f"{unowned}\n{text}"
    return Message(
        title=title,
        text=text,
        url=facts["url"],
        template="anomaly",
        context={**facts, "severity": severity, "unowned": unowned},
        anomaly_id=anomaly.pk,
    )


# What a fallback recipient reads first (TREMOR_UNOWNED_ALERTS_TO).
UNOWNED_NOTE = (
    "{name} has no owner in Tremor: you get its critical alerts as a fallback recipient "
    "until a CSM is set (admin, Customers, Owner: none)."
)


def _digest_message(delivery: Delivery) -> Message:
    ids = delivery.payload.get("anomaly_ids", [])
    anomalies = UsageAnomaly.objects.filter(pk__in=ids).select_related("customer")
    items = [_anomaly_facts(a) for a in sorted(anomalies, key=lambda a: a.detected_at)]
    lines = [f"- {_anomaly_line(item)}\n  {item['url']}" for item in items]
    count = len(items)
    title = f"Daily digest: {count} new anomal{'y' if count == 1 else 'ies'}"
    return Message(
        title=title,
        text="\n".join(lines),
        url=site_url("/"),
        template="digest",
        context={"items": items, "count": count, "date": delivery.digest_date, "title": title},
    )


def delivery_send(*, delivery_id: int) -> bool:
    """One attempt at one delivery. Returns True when it failed and should be retried."""
    delivery = (
        Delivery.objects.select_related("user", "anomaly__customer").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        # Already sent (a redelivered or retried task) or given up: never send twice.
        # Accepted race: two copies of one task running at the very same moment can both
        # send; Celery only does that when a worker is lost mid-task.
        return False
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1, last_attempt_at=now)
    delivery.refresh_from_db(fields=["attempts", "last_attempt_at"])
    transport = TRANSPORTS[delivery.channel](preference_for(delivery.user))
    if not transport.is_enabled_for(transport.preference):
        _delivery_mark_failed(delivery, transport, error="channel disabled by the user")
        return False
    if delivery.kind == Delivery.Kind.IMMEDIATE:
        # An immediate delivery is made for one anomaly and is deleted with it (CASCADE).
        assert delivery.anomaly is not None
        message = _anomaly_message(delivery.anomaly)
    else:
        message = _digest_message(delivery)
    try:
        if transport.transactional:
            with transaction.atomic():
                transport.notify(message)
                _delivery_mark_sent(delivery, transport)
        else:
            transport.notify(message)
            _delivery_mark_sent(delivery, transport)
    except TransportError as exc:
        if exc.permanent:
            _delivery_mark_failed(delivery, transport, error=str(exc))
            return False
        Delivery.objects.filter(pk=delivery.pk).update(last_error=str(exc)[:2000])
        logger.warning("delivery %s (%s) failed: %s", delivery.pk, delivery.channel, exc)
        return True
    return False


def _delivery_mark_sent(delivery: Delivery, transport) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENT, sent_at=timezone.now()
    )
    transport.on_sent()


def _delivery_mark_failed(delivery: Delivery, transport, *, error: str) -> None:
    update: dict[str, str] = {"status": Delivery.Status.FAILED}
    if error:
        update["last_error"] = error[:2000]
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.PENDING).update(**update)
    transport.on_failed()


def delivery_fail(*, delivery_id: int) -> None:
    """Give up on a delivery after its last retry (the last error is already recorded)."""
    delivery = Delivery.objects.select_related("user").filter(pk=delivery_id).first()
    if delivery is not None and delivery.status == Delivery.Status.PENDING:
        transport = TRANSPORTS[delivery.channel](preference_for(delivery.user))
        _delivery_mark_failed(delivery, transport, error="")


def _local_now(preference: NotificationPreference, now: dt.datetime) -> dt.datetime:
    zone: dt.tzinfo
    try:
        zone = ZoneInfo(preference.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return now.astimezone(zone)


def digest_build_and_send(*, now: dt.datetime) -> list[int]:
    """Write and send today's digest for every user whose local digest hour is `now`.
    Returns the ids of digest deliveries whose first attempt failed (to retry)."""
    retry = []
    preferences = NotificationPreference.objects.filter(digest_enabled=True).select_related("user")
    for preference in preferences:
        local = _local_now(preference, now)
        if local.hour != preference.digest_hour:
            continue
        try:
            ids = _digest_build(preference=preference, now=now, local_date=local.date())
        except Exception:
            # One user's bad data must not cost everyone else their digest.
            logger.exception("digest for user %s failed", preference.user_id)
            continue
        retry += [pk for pk in ids if delivery_send(delivery_id=pk)]
    return retry


def _digest_build(
    *, preference: NotificationPreference, now: dt.datetime, local_date: dt.date
) -> list[int]:
    with transaction.atomic():
        preference = NotificationPreference.objects.select_for_update().get(pk=preference.pk)
        last = preference.last_digest_at
        if last is not None and _local_now(preference, last).date() >= local_date:
            return []  # already had today's digest (or a DST hour repeated itself)
        since = last or now - DIGEST_FALLBACK_WINDOW
        anomaly_ids = [
            str(pk)
            for pk in UsageAnomaly.objects.filter(
                customer__csm_id=preference.user_id,
                severity__in=[Severity.WARNING, Severity.INFO],
                detected_at__gt=since,
                detected_at__lte=now,
            )
            .exclude(status=AnomalyStatus.DISMISSED)
            # Already sent at once (the user asked for warnings immediately): not again.
            .exclude(
                pk__in=Delivery.objects.filter(
                    user_id=preference.user_id,
                    kind=Delivery.Kind.IMMEDIATE,
                    status=Delivery.Status.SENT,
                ).values("anomaly_id")
            )
            .order_by("detected_at")
            .values_list("pk", flat=True)
        ]
        preference.last_digest_at = now
        preference.save(update_fields=["last_digest_at", "updated_at"])
        if not anomaly_ids:
            return []
        Delivery.objects.bulk_create(
            [
                Delivery(
                    user_id=preference.user_id,
                    channel=channel,
                    kind=Delivery.Kind.DIGEST,
                    digest_date=local_date,
                    payload={"anomaly_ids": anomaly_ids, "since": since.isoformat()},
                )
                for channel in enabled_channels(preference)
            ],
            ignore_conflicts=True,
        )
        return list(
            Delivery.objects.filter(
                user_id=preference.user_id,
                kind=Delivery.Kind.DIGEST,
                digest_date=local_date,
                status=Delivery.Status.PENDING,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
