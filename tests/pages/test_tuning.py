"""/insights/tuning/: staff see each proposal with its evidence and decide with a reason;
CSMs are refused; every form needs its CSRF token."""

import pytest
from django.test import Client
from django.urls import reverse

from anomalies.models import DetectionSettings, TuningProposal
from tests.anomalies.tuning_data import AS_OF, EXPECTED_BACKTEST, PROPOSAL_TEXT, make_proposal

pytestmark = pytest.mark.django_db

URL = reverse("tuning")


@pytest.fixture
def proposal(db):
    return make_proposal()


def decide(client, proposal, **data):
    return client.post(reverse("tuning-decide", args=[proposal.pk]), data)


def test_staff_see_the_proposal_with_its_evidence(
    client, staff, proposal, django_assert_max_num_queries
):
    client.force_login(staff)
    with django_assert_max_num_queries(6):
        response = client.get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert PROPOSAL_TEXT in text
    assert "96 % false positives</strong> (target 20 %): 22 of 23 judged drops on feature:*" in text
    assert "would have hidden 1 anomaly that preceded a churn" in text
    # Would disappear: 3 false positives, 0 acted on, 1 led to churn (red), 0, 0, 1 not judged.
    assert (
        '<td class="num">3</td><td class="num">0</td><td class="num churn">1</td>'
        in text.replace("\n", "")
    )
    assert "1 stored anomaly was not found by the replay" in text


def test_accepting_writes_the_settings_and_records_who_and_why(client, staff, proposal):
    client.force_login(staff)
    response = decide(client, proposal, decision="accept", reason="Blips on features are noise.")
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.reason) == (
        "accepted",
        staff,
        "Blips on features are noise.",
    )
    row = DetectionSettings.objects.get()
    assert (row.metric, row.min_duration_days, row.drop_percent, row.updated_by) == (
        "feature:*",
        3,
        40,
        staff,
    )
    page = client.get(URL).content.decode()
    assert f"Accepted: {PROPOSAL_TEXT}." in page
    assert "Why revert" in page


def test_rejecting_changes_no_setting(client, staff, proposal):
    client.force_login(staff)
    assert decide(client, proposal, decision="reject", reason="Not now.").status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == "rejected"
    assert not DetectionSettings.objects.exists()


def accept_then_revert(client, user, proposal, reason):
    client.force_login(user)
    decide(client, proposal, decision="accept", reason="Try it.")
    return client.post(reverse("tuning-revert", args=[proposal.pk]), {"reason": reason})


def test_revert_on_the_page_restores_the_settings(client, staff, proposal):
    assert accept_then_revert(client, staff, proposal, "Missed one.").status_code == 302
    assert not DetectionSettings.objects.exists()
    proposal.refresh_from_db()
    assert (proposal.status, proposal.revert_reason) == ("reverted", "Missed one.")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "accept", "reason": ""}, "reason: Say why"),
        ({"decision": "accept", "reason": "a\x00b"}, "The form field 'reason' contains a NUL"),
        ({"decision": "approve", "reason": "Yes."}, "decision: Select a valid choice."),
        ({"reason": "Yes."}, "decision: This field is required."),
    ],
)
def test_bad_input_is_answered_with_the_field(client, staff, proposal, data, message):
    client.force_login(staff)
    response = decide(client, proposal, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    assert not DetectionSettings.objects.exists()


def test_a_revert_needs_a_reason(client, staff, proposal):
    response = accept_then_revert(client, staff, proposal, " ")
    assert response.status_code == 400
    assert "reason: Say why the change is reverted." in response.content.decode()
    assert DetectionSettings.objects.exists()


def test_a_stale_proposal_is_refused_with_the_reason(client, staff, proposal):
    DetectionSettings.objects.create(metric="feature:*", sensitivity="medium", drop_percent=35)
    client.force_login(staff)
    response = decide(client, proposal, decision="accept", reason="Try it.")
    assert response.status_code == 409
    assert (
        "settings changed since this proposal was made (drop_percent)" in response.content.decode()
    )
    assert DetectionSettings.objects.get().drop_percent == 35


def test_a_decided_proposal_cannot_be_decided_again(client, staff, proposal):
    client.force_login(staff)
    decide(client, proposal, decision="reject", reason="No.")
    response = decide(client, proposal, decision="accept", reason="Yes.")
    assert response.status_code == 409
    assert "already rejected" in response.content.decode()
    assert not DetectionSettings.objects.exists()


def test_csm_is_refused_everywhere(client, csm, proposal):
    client.force_login(csm)
    assert client.get(URL).status_code == 403
    assert decide(client, proposal, decision="accept", reason="Mine now.").status_code == 403
    revert = reverse("tuning-revert", args=[proposal.pk])
    assert client.post(revert, {"reason": "x"}).status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    assert not DetectionSettings.objects.exists()


def test_anonymous_is_sent_to_log_in(client, proposal):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert decide(client, proposal, decision="accept", reason="x").status_code == 302
    assert not DetectionSettings.objects.exists()


def test_unknown_proposal_is_a_404_and_get_is_not_allowed(client, staff, proposal):
    client.force_login(staff)
    missing = reverse("tuning-decide", args=["00000000-0000-0000-0000-000000000000"])
    assert client.post(missing, {"decision": "accept", "reason": "x"}).status_code == 404
    assert client.get(reverse("tuning-decide", args=[proposal.pk])).status_code == 405


def test_forms_need_their_csrf_token(staff, proposal):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    page = client.get(URL).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 2  # logout and the decision
    response = decide(client, proposal, decision="accept", reason="No token.")
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    assert not DetectionSettings.objects.exists()


def test_nothing_is_waiting_on_an_empty_page(client, staff):
    client.force_login(staff)
    page = client.get(URL).content.decode()
    assert "No proposal is waiting" in page
    assert "No proposal was decided yet." in page


def test_admin_shows_proposals_read_only(client, django_user_model, proposal):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "root-pass-1")
    client.force_login(root)
    changelist = client.get(reverse("admin:anomalies_tuningproposal_changelist"))
    assert changelist.status_code == 200
    assert PROPOSAL_TEXT in changelist.content.decode()
    change = reverse("admin:anomalies_tuningproposal_change", args=[proposal.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"status": "accepted", "reason": "via admin"})
    assert TuningProposal.objects.get().status == "pending"
    assert client.get(reverse("admin:anomalies_tuningproposal_add")).status_code == 403


def test_the_sensitivity_page_edits_the_feature_family_scope(client, staff):
    # Where a revert sends staff when the accepted values were edited since.
    client.force_login(staff)
    form = {"customer": "", "metric": "feature:*", "sensitivity": "medium", "drop_percent": "45"}
    assert client.post(reverse("sensitivity"), form).status_code == 302
    row = DetectionSettings.objects.get()
    assert (row.customer, row.metric, row.drop_percent) == (None, "feature:*", 45)
    bad = client.post(reverse("sensitivity"), {**form, "metric": "feature:*x"})
    assert bad.status_code == 400
    assert "is not a metric of your accounts" in bad.content.decode()


def test_the_churn_the_change_would_hide_is_named(client, staff, make_customer, make_anomaly):
    churner = make_customer(name="Churner Ltd")
    anomaly = make_anomaly(churner, metric_type="feature:reports", start_date=AS_OF)
    make_proposal(backtest={**EXPECTED_BACKTEST, "hidden_churn": [str(anomaly.pk)]})
    client.force_login(staff)
    page = client.get(URL).content.decode()
    link = reverse("customer-detail", args=[churner.pk])
    assert f'<a href="{link}">Churner Ltd</a>: drop in feature:reports from May 14, 2025' in page
