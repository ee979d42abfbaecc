"""An account nobody owns: its critical alerts reach the fallback recipients
(TREMOR_UNOWNED_ALERTS_TO, all active staff by default) and say the account has no owner,
instead of reaching nobody (issue 14, item 7)."""

import pytest

from notifications import services
from notifications.models import Delivery, Notification
from tests.anomalies.scan_data import N_DAYS, scaled, scan, usage, usage_store
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def orphan(make_customer):
    """An imported account without a CSM whose API calls fell 65 % (critical) and whose
    reports feature fell too (a warning) over the last six days."""
    customer = make_customer(name="Imported Co", csm=None)
    low = slice(174, None)
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=1), low, 0.35))
    usage_store(customer, "feature:reports", scaled(usage(N_DAYS, seed=2, level=800), low, 0.35))
    return customer


@pytest.fixture
def people(csm):
    """Two active staff users, an inactive one, and a CSM (not staff)."""
    return {
        "olga": UserFactory(username="olga", email="olga@example.com", staff=True),
        "sam": UserFactory(username="sam", email="sam@example.com", staff=True),
        "gone": UserFactory(username="gone", email="gone@example.com", staff=True, is_active=False),
        "csm": csm,
    }


def _scan_and_send():
    scan()
    services.requests_create_from_scans()
    for pk in services.requests_dispatch():
        services.delivery_send(delivery_id=pk)


def test_by_default_every_active_staff_user_gets_the_critical_alert_over_smtp(
    orphan, people, smtp_server
):
    _scan_and_send()

    recipients = sorted(r for envelope in smtp_server.messages for r in envelope.rcpt_tos)
    assert recipients == ["olga@example.com", "sam@example.com"]
    content = smtp_server.messages[0].content.decode()
    assert "Subject: [Tremor] Critical: " in content
    assert "at Imported Co (no owner)" in content
    assert "Imported Co has no owner in Tremor" in content
    assert "fallback recipient" in content
    # Only the critical drop: the warning waits for an owner's digest, as before.
    assert set(Delivery.objects.values_list("anomaly__metric_type", flat=True)) == {"api_calls"}


def test_the_in_app_notification_says_the_account_has_no_owner(orphan, people):
    _scan_and_send()

    notes = Notification.objects.filter(user=people["olga"])
    assert notes.count() == 1
    assert "Imported Co has no owner in Tremor" in notes.get().body
    assert not Notification.objects.filter(user__in=[people["csm"], people["gone"]]).exists()


def test_the_setting_names_the_recipients_by_username_or_email(
    orphan, people, settings, smtp_server, caplog
):
    settings.TREMOR_UNOWNED_ALERTS_TO = ["alice", "SAM@example.com", "nobody"]
    people["csm"].email = "alice@example.com"
    people["csm"].save()

    _scan_and_send()

    recipients = sorted(r for envelope in smtp_server.messages for r in envelope.rcpt_tos)
    assert recipients == ["alice@example.com", "sam@example.com"]
    assert "names no active user: nobody" in caplog.text


def test_an_owned_accounts_alert_still_goes_to_its_csm_only(make_customer, owner, people):
    customer = make_customer(name="Owned Co", csm=owner)
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=1), slice(174, None), 0.35))

    _scan_and_send()

    assert set(Delivery.objects.values_list("user__username", flat=True)) == {owner.username}
    assert "no owner" not in Notification.objects.get().body
