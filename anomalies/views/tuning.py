"""Tuning proposals (/insights/tuning/): each proposed threshold change with its evidence,
accepted or rejected by staff with a reason, and the history with a revert. Staff only: a
CSM is refused (403), as on the sensitivity page's global scope."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..forms import TuningDecisionForm, TuningRevertForm
from ..models import TuningProposal, TuningStatus
from ..selectors import anomaly_list_by_ids, tuning_proposal_list
from ..services import tuning as tuning_services


@dataclass
class ProposalRow:
    """A proposal as the page shows it: rates in percent, the backtest as table rows."""

    proposal: TuningProposal
    form: TuningDecisionForm | TuningRevertForm | None = None
    error: str = ""
    # The anomalies that preceded a churn and the change would have hidden (from the
    # backtest's ids), to name them in red.
    hidden_churn: list = field(default_factory=list)

    @property
    def rate_percent(self) -> int:
        return round(100 * self.proposal.false_positive_rate)

    @property
    def target_percent(self) -> int:
        return round(100 * self.proposal.target_rate)

    @property
    def backtest_rows(self) -> list[tuple[str, list[int]]]:
        backtest = self.proposal.backtest
        return [
            (label, [backtest.get(key, {}).get(j, 0) for j in tuning_services.JUDGEMENT_COLUMNS])
            for label, key in (("Would disappear", "disappear"), ("Kept", "kept"))
        ]


def _staff_only(request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Tuning proposals are decided by staff.")


def _render(request, *, failed: ProposalRow | None = None, status: int = 200):
    rows = [ProposalRow(p) for p in tuning_proposal_list()]
    if failed is not None:
        rows = [failed if r.proposal.pk == failed.proposal.pk else r for r in rows]
    pending = [r for r in rows if r.proposal.status == TuningStatus.PENDING]
    hidden = anomaly_list_by_ids(
        ids=[pk for r in pending for pk in r.proposal.backtest.get("hidden_churn", [])]
    )
    for row in pending:
        row.hidden_churn = [
            hidden[pk] for pk in row.proposal.backtest.get("hidden_churn", []) if pk in hidden
        ]
    context = {
        "pending": pending,
        "history": [r for r in rows if r.proposal.status != TuningStatus.PENDING],
        "columns": list(tuning_services.JUDGEMENT_COLUMNS.values()),
        "churn_column": list(tuning_services.JUDGEMENT_COLUMNS).index(
            tuning_services.Judgement.LED_TO_CHURN
        ),
        "backtest_days": tuning_services.BACKTEST_DAYS,
    }
    return render(request, "anomalies/tuning.html", context, status=status)


@login_required
def tuning_list(request):
    _staff_only(request)
    return _render(request)


def _decision(request, proposal_id, form_class, act):
    """Parse a decision form for one proposal, call `act(proposal, data)` (a service), and
    redirect with its message; the page again with the form's or the service's error."""
    _staff_only(request)
    proposal = get_object_or_404(TuningProposal, pk=proposal_id)
    form = form_class(request.POST)
    if not form.is_valid():
        return _render(request, failed=ProposalRow(proposal, form=form), status=400)
    try:
        message = act(proposal, form.cleaned_data)
    except tuning_services.TuningError as exc:
        return _render(request, failed=ProposalRow(proposal, error=str(exc)), status=409)
    messages.success(request, message)
    return redirect("tuning")


@login_required
@require_POST
def tuning_decide(request, proposal_id):
    def act(proposal, data):
        decide = (
            tuning_services.proposal_accept
            if data["decision"] == "accept"
            else tuning_services.proposal_reject
        )
        decided = decide(proposal=proposal, user=request.user, reason=data["reason"])
        return f"{decided.get_status_display()}: {decided.text}."

    return _decision(request, proposal_id, TuningDecisionForm, act)


@login_required
@require_POST
def tuning_revert(request, proposal_id):
    def act(proposal, data):
        tuning_services.proposal_revert(proposal=proposal, user=request.user, reason=data["reason"])
        return f"Reverted: {proposal.text}. The previous settings are back."

    return _decision(request, proposal_id, TuningRevertForm, act)
