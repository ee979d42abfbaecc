"""The CSM's landing page: open anomalies of their portfolio, one card per account, and the
"Are there any usage anomalies for <customer>?" box; plus the card's action buttons."""

import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from customers.selectors import customer_list_unowned, customer_matches_visible
from customers.validators import SEARCH_MAX_LENGTH

from ..detection.vocabulary import Severity
from ..forms import ActionForm, DismissForm
from ..models import ActionKind, AnomalyStatus, AnomalyType, Direction, FollowUpKind
from ..selectors import (
    SUMMARY_DAYS,
    UNOWNED_PORTFOLIO,
    anomalies_of_portfolio,
    anomaly_get_visible,
    anomaly_list_for_summary,
    anomaly_list_portfolio_summary,
    anomaly_list_visible,
    anomaly_list_with_open_followups,
)
from ..selectors_health import HEALTH_CHANGE_DAYS
from ..services.anomalies import anomaly_action_record
from ..services.followups import followup_create
from ..text import (
    anomaly_sentence,
    anomaly_summary_line,
    ask_subject,
    contact_email,
    evidence_explanation,
    holiday_name,
    mailto_url,
    overdue_text,
    projection_text,
)
from .health import DEFAULT_SORT, PORTFOLIO_SORTS, UnknownSort, portfolio_cards_health

# A card's badge: a loss's severity, or "positive" for a gain.
TIER_LABEL = {**{s: s.label for s in Severity}, Direction.POSITIVE: Direction.POSITIVE.label}
# Cards and anomalies read worst first: losses by severity, then good news and info.
TIER_RANK = {**{s: -s.rank for s in Severity}, Direction.POSITIVE: -Severity.INFO.rank}
# Past this many days a running anomaly reads "started N weeks ago" rather than a day count.
WEEKS_FROM_DAYS = 14

# The buttons a card shows; Dismiss has its own form and the customer page's view.
ACTIONS_LOSS = (ActionKind.INVESTIGATE, ActionKind.CONTACT_CUSTOMER)
ACTIONS_ABANDONMENT = (ActionKind.SCHEDULE_TRAINING, ActionKind.INVESTIGATE)
ACTIONS_GAIN = (ActionKind.EXPLORE_EXPANSION, ActionKind.SEND_CONGRATULATIONS)
CARD_ACTIONS = {*ACTIONS_LOSS, *ACTIONS_ABANDONMENT, *ACTIONS_GAIN}


def anomaly_tier(anomaly) -> str:
    """The badge: the severity of a loss, Direction.POSITIVE for a gain. A gain is good news
    whatever its severity, so it never sits among the critical losses."""
    if anomaly.direction == Direction.POSITIVE:
        return Direction.POSITIVE
    return anomaly.severity


def anomaly_actions(anomaly) -> tuple:
    if anomaly.anomaly_type == AnomalyType.FEATURE_ABANDONMENT:
        return ACTIONS_ABANDONMENT
    if anomaly.direction == Direction.POSITIVE:
        return ACTIONS_GAIN
    return ACTIONS_LOSS


def duration_text(anomaly, *, today: dt.date) -> tuple[str, str]:
    """('Duration', '5 days') for one that is over; while it runs, since when:
    ('Duration', '5 days, since Nov 26 (Thanksgiving Day)') or, for a long one,
    ('Started', '2 weeks ago, on Nov 17')."""
    last = anomaly.end_date or today
    days = max((last - anomaly.start_date).days + 1, 1)
    if anomaly.end_date is not None:
        return "Duration", f"{days} day{'s' if days != 1 else ''}"
    start = anomaly.start_date
    since = f"{start:%b} {start.day}" + (f", {start.year}" if start.year != today.year else "")
    holiday = holiday_name(calendar=anomaly.customer.holiday_calendar, day=start)
    if holiday:
        since += f" ({holiday})"
    if days >= WEEKS_FROM_DAYS:
        return "Started", f"{days // 7} weeks ago, on {since}"
    return "Duration", f"{days} day{'s' if days != 1 else ''}, since {since}"


def _row(anomaly, *, today: dt.date) -> dict:
    tier = anomaly_tier(anomaly)
    return {
        "anomaly": anomaly,
        "tier": tier,
        "tier_label": TIER_LABEL[tier],
        "rank": TIER_RANK[tier],
        "sentence": anomaly_sentence(
            anomaly_type=anomaly.anomaly_type,
            metric=anomaly.metric_type,
            deviation_percent=float(anomaly.deviation_percent),
        ),
        "duration": duration_text(anomaly, today=today),
        "baseline": f"{float(anomaly.baseline_value):,.0f}",
        "actual": f"{float(anomaly.actual_value):,.0f}",
        "projection": projection_text(
            anomaly_type=anomaly.anomaly_type, projected_value=anomaly.projected_value
        ),
        "evidence": evidence_explanation(
            metric=anomaly.metric_type, evidence_factor=anomaly.evidence_factor
        ),
        "actions": [(kind.value, kind.label) for kind in anomaly_actions(anomaly)],
        # The follow-ups already open on it (when the list was read with them).
        "followups": [
            (followup, overdue_text(due_date=followup.due_date, today=today))
            for followup in getattr(anomaly, "open_followups", ())
        ],
        # The customer page's dismiss view reads the form under this prefix.
        "dismiss_form": DismissForm(prefix=str(anomaly.pk)),
    }


def portfolio_cards(anomalies, *, today: dt.date) -> list[dict]:
    """One card per account, worst account first; within a card, worst anomaly first."""
    by_customer: dict = {}
    for anomaly in anomalies:
        card = by_customer.setdefault(
            anomaly.customer_id, {"customer": anomaly.customer, "rows": []}
        )
        card["rows"].append(_row(anomaly, today=today))
    cards = list(by_customer.values())
    for card in cards:
        card["rows"].sort(key=lambda r: (r["rank"], -abs(r["anomaly"].deviation_percent)))
        card["top"] = card["rows"][0]
    cards.sort(key=lambda c: (c["top"]["rank"], c["customer"].name.lower(), str(c["customer"].pk)))
    return cards


def _portfolio_csm(request) -> str:
    """Staff may look at one CSM's portfolio with ?csm=<username>; others always see theirs."""
    if request.user.is_staff:
        return request.GET.get("csm", "").strip()
    return ""


def _ask(request) -> dict | None:
    """The answer to 'Are there any usage anomalies for <customer>?', as the summary API
    gives it: for one account, non-dismissed anomalies that started in the last 30 days plus
    older ones still open; for the portfolio ("my accounts", "all accounts"), the accounts
    with open anomalies, most severe first; for a name several accounts share, the choices."""
    # PostgreSQL text cannot hold NUL; drop it rather than fail the query.
    query = request.GET.get("customer", "").replace("\x00", "").strip()[:SEARCH_MAX_LENGTH]
    if not query:
        return None
    today = timezone.localdate()
    subject = ask_subject(query)
    if not subject:
        accounts = [
            {
                "customer": customer,
                "lines": [anomaly_summary_line(anomaly=a, today=today) for a in rows],
            }
            for customer, rows in anomaly_list_portfolio_summary(
                user=request.user, csm_username=_portfolio_csm(request)
            )
        ]
        return {"query": query, "kind": "portfolio", "accounts": accounts}
    # The same answer for an unknown account and another CSM's: nothing leaks.
    matches = customer_matches_visible(user=request.user, query=subject)
    if len(matches) != 1:
        return {"query": query, "subject": subject, "kind": "choices", "matches": matches}
    customer = matches[0]
    since = today - dt.timedelta(days=SUMMARY_DAYS)
    anomalies = anomaly_list_for_summary(user=request.user, customer=customer, since=since)
    lines = [anomaly_summary_line(anomaly=a, today=today) for a in anomalies]
    return {"query": query, "kind": "customer", "customer": customer, "lines": lines}


@login_required
def portfolio(request):
    csm = _portfolio_csm(request)
    anomalies = anomaly_list_with_open_followups(
        anomalies_of_portfolio(
            anomaly_list_visible(user=request.user).filter(status=AnomalyStatus.OPEN),
            csm_username=csm,
        )
    )
    today = timezone.localdate()
    cards = portfolio_cards(anomalies, today=today)
    # Health (issue 13): each card's health score and change, and the order asked for.
    sort = request.GET.get("sort", "").strip() or DEFAULT_SORT
    sort_error, status = "", 200
    try:
        cards = portfolio_cards_health(cards, sort=sort, today=today)
    except UnknownSort as exc:
        sort_error, status, sort = str(exc), 400, DEFAULT_SORT
        cards = portfolio_cards_health(cards, sort=sort, today=today)
    context = {
        "cards": cards,
        "sort": sort,
        "sort_error": sort_error,
        "change_days": HEALTH_CHANGE_DAYS,
        "sorts": [(key, label) for key, (label, _) in PORTFOLIO_SORTS.items()],
        "csm": csm,
        "answer": _ask(request),
        "summary_days": SUMMARY_DAYS,
        "next_url": request.get_full_path(),
        # Staff switch portfolios: the CSMs who own accounts.
        "csm_choices": (
            get_user_model()
            .objects.filter(customers__isnull=False)
            .distinct()
            .order_by("username")
            .values_list("username", flat=True)
            if request.user.is_staff
            else []
        ),
        "unowned_choice": UNOWNED_PORTFOLIO,
        # Staff only: how many accounts nobody owns (the switcher's entry), and with
        # "Unowned accounts" chosen, which (up to UNOWNED_LISTED, then a link to the rest).
        **(_unowned(showing=csm == UNOWNED_PORTFOLIO) if request.user.is_staff else {}),
    }
    return render(request, "anomalies/portfolio.html", context, status=status)


# Unowned accounts the portfolio page names; the admin's "Owner: none" filter lists them all.
UNOWNED_LISTED = 50


def _unowned(*, showing: bool) -> dict:
    accounts = customer_list_unowned()
    count = accounts.count()
    listed = list(accounts[:UNOWNED_LISTED]) if showing and count else []
    return {"unowned_count": count, "unowned_accounts": listed}


class MailtoRedirect(HttpResponseRedirect):
    # Django refuses to redirect to schemes other than http(s) and ftp unless told.
    allowed_schemes = ["mailto"]


def redirect_next(request, default: str = "home"):
    """Back to the page the form was on (its `next`), if it is one of ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


def contact_mailto(anomaly, *, sender: str) -> str:
    """The "Contact customer" email, addressed to the account's contact when it has one."""
    customer = anomaly.customer
    subject, body = contact_email(
        customer_name=customer.name,
        anomaly_type=anomaly.anomaly_type,
        metric=anomaly.metric_type,
        deviation_percent=float(anomaly.deviation_percent),
        start_date=anomaly.start_date,
        end_date=anomaly.end_date,
        baseline=float(anomaly.baseline_value),
        actual=float(anomaly.actual_value),
        holiday=holiday_name(calendar=customer.holiday_calendar, day=anomaly.start_date),
        sender=sender,
    )
    return mailto_url(to=customer.contact_email, subject=subject, body=body)


@require_POST
@login_required
def anomaly_action(request, anomaly_id):
    anomaly = anomaly_get_visible(user=request.user, anomaly_id=anomaly_id)
    form = ActionForm(request.POST, kinds=CARD_ACTIONS)
    if not form.is_valid():
        text = "\n".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    kind = form.cleaned_data["kind"]
    customer = anomaly.customer
    if kind in FollowUpKind.values and kind != ActionKind.CONTACT_CUSTOMER:
        # Training, expansion, congratulations: work to do later, so a follow-up to manage.
        followup, created = followup_create(
            customer=customer, anomaly=anomaly, user=request.user, kind=kind
        )
        url = reverse("followup-list") + f"#followup-{followup.pk}"
        opened = "Follow-up opened" if created else "Already a follow-up"
        messages.success(
            request,
            format_html(
                '{}: <a href="{}">{}</a>, due {}.',
                opened,
                url,
                followup.title,
                date_format(followup.due_date, "M j, Y"),
            ),
        )
        return redirect_next(request)
    anomaly_action_record(
        anomaly=anomaly, user=request.user, kind=kind, note=form.cleaned_data["note"]
    )
    if kind == ActionKind.INVESTIGATE:
        url = reverse("customer-detail", args=[customer.pk])
        return redirect(f"{url}?{urlencode({'metric': anomaly.metric_type})}")
    # Contact customer: an email to edit and send from the CSM's own mail program.
    sender = request.user.get_full_name() or request.user.username
    return MailtoRedirect(contact_mailto(anomaly, sender=sender))
