"""The follow-ups admin: a read-only list ops can filter (overdue, status, owner)."""

import pytest
from django.urls import reverse

from tests.factories import FollowUpFactory, make_anomaly_of

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:anomalies_followup_changelist")


@pytest.fixture
def followups(make_customer, csm):
    anomaly = make_anomaly_of(make_customer(name="Acme", csm=csm))
    return {
        "late": FollowUpFactory(anomaly=anomaly, overdue=True, title="Late task"),
        "soon": FollowUpFactory(anomaly=anomaly, kind="explore_expansion", title="Soon task"),
    }


def test_the_overdue_filter(client, superuser, followups):
    client.force_login(superuser)
    html = client.get(CHANGELIST, {"overdue": "yes"}).content.decode()
    assert "Late task" in html and "Soon task" not in html
    html = client.get(CHANGELIST, {"overdue": "no"}).content.decode()
    assert "Soon task" in html and "Late task" not in html


def test_it_is_read_only(client, superuser, followups):
    client.force_login(superuser)
    assert client.get(reverse("admin:anomalies_followup_add")).status_code == 403
    late = followups["late"]
    url = reverse("admin:anomalies_followup_change", args=[late.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    client.post(url, {"title": "Renamed"})
    late.refresh_from_db()
    assert late.title == "Late task"
