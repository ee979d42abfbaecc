"""Parsing and validating lifecycle changes (churned, contracted, renewed, expanded), shared by
`manage.py import_lifecycle` and `PUT /api/customers/<id>/lifecycle`.

Pure, like customers.ingest (whose CSV reader, text and date checks and error shape it reuses):
no database, no settings. Whether the customer exists is the service's question
(customers.services.lifecycle_import).

A CSV file has the columns customer_external_id, kind, date and optionally arr_before,
arr_after and note; the header is line 1 and errors name the file line of their record.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .ingest import (
    EXTERNAL_ID_MAX_LENGTH,
    NO_CLOCK_LIMITS,
    RowError,
    UsageFileError,
    UsageLimits,
    csv_rows,
    key_text,
    parse_date,
    parse_text,
    unique_records,
)
from .models import LifecycleKind
from .validators import NOTE_MAX_LENGTH

REQUIRED_FIELDS = ("customer_external_id", "kind", "date")
OPTIONAL_FIELDS = ("arr_before", "arr_after", "note")
# The columns of LifecycleEvent.arr_before/arr_after: DecimalField(max_digits=14, decimal_places=2).
ARR_MAX_DIGITS = 14
ARR_DECIMAL_PLACES = 2
# Plain amounts only ("120000", "120000.50"): no thousands separators, currency or exponents,
# which in an export mean a mangled column rather than a number to guess at.
_AMOUNT_RE = re.compile(r"^\d+(\.\d{1,2})?$")


@dataclass(frozen=True, slots=True)
class LifecycleRecord:
    ref: int
    customer_external_id: str
    kind: str
    date: date
    arr_before: Decimal | None = None
    arr_after: Decimal | None = None
    note: str = ""

    @property
    def key(self) -> tuple[str, str, date]:
        return (self.customer_external_id, self.kind, self.date)

    @property
    def key_text(self) -> str:
        return key_text(self.customer_external_id, "kind", self.kind, self.date)


@dataclass(frozen=True)
class LifecycleBatch:
    """Records that passed every record-level check (no two with one key) and the errors."""

    records: tuple[LifecycleRecord, ...]
    errors: tuple[RowError, ...]


def parse_amount(raw: object, field: str) -> tuple[Decimal | None, str | None]:
    """An ARR amount, or None when empty."""
    if raw is None or raw == "":
        return None, None
    text = raw.strip() if isinstance(raw, str) else ""
    if not _AMOUNT_RE.match(text):
        return None, f"{field} {raw!r} is not an amount like 120000 or 120000.50"
    if len(text.partition(".")[0].lstrip("0")) > ARR_MAX_DIGITS - ARR_DECIMAL_PLACES:
        return None, f"{field} {raw!r} is too large"
    return Decimal(text), None


def arr_problem(
    kind: str, arr_before: Decimal | None, arr_after: Decimal | None
) -> tuple[str, str] | None:
    """(field, message) when the ARR figures contradict the kind of change, else None.
    A churn ends at 0; a contraction lowers ARR, an expansion raises it; a renewal may do
    either (a renewal at a new price)."""
    if arr_after is None:
        return None
    if kind == LifecycleKind.CHURNED and arr_after != 0:
        return "arr_after", f"a churn ends with no ARR: arr_after must be 0, got {arr_after}"
    if arr_before is None:
        return None
    if kind == LifecycleKind.CONTRACTED and arr_after >= arr_before:
        return "arr_after", (
            f"a contraction lowers ARR: arr_after ({arr_after}) must be below "
            f"arr_before ({arr_before})"
        )
    if kind == LifecycleKind.EXPANDED and arr_after <= arr_before:
        return "arr_after", (
            f"an expansion raises ARR: arr_after ({arr_after}) must be above "
            f"arr_before ({arr_before})"
        )
    return None


def parse_record(
    raw: Mapping[str, str], *, ref: int, limits: UsageLimits = NO_CLOCK_LIMITS
) -> LifecycleRecord | list[RowError]:
    """One record, or every error found in it."""
    errors: list[RowError] = []
    external_id, message = parse_text(
        raw.get("customer_external_id"),
        "customer_external_id",
        required=True,
        max_length=EXTERNAL_ID_MAX_LENGTH,
    )
    if message:
        errors.append(RowError(ref, "customer_external_id", message))

    kind = (raw.get("kind") or "").strip()
    if kind not in LifecycleKind.values:
        choices = ", ".join(LifecycleKind.values)
        message = f"kind {kind!r} is not one of {choices}" if kind else "kind is missing"
        errors.append(RowError(ref, "kind", message))

    day, message = parse_date(raw.get("date"), limits=limits)
    if message:
        errors.append(RowError(ref, "date", message))

    amounts = {}
    for field in ("arr_before", "arr_after"):
        amounts[field], message = parse_amount(raw.get(field), field)
        if message:
            errors.append(RowError(ref, field, message))

    note, message = parse_text(raw.get("note"), "note", required=False, max_length=NOTE_MAX_LENGTH)
    if message:
        errors.append(RowError(ref, "note", message))

    if not errors and (problem := arr_problem(kind, amounts["arr_before"], amounts["arr_after"])):
        errors.append(RowError(ref, *problem))
    if errors:
        return errors
    return LifecycleRecord(ref, external_id, kind, day, note=note, **amounts)


def parse_csv(lines: Iterable[str], *, limits: UsageLimits = NO_CLOCK_LIMITS) -> LifecycleBatch:
    """Parse the lines of a decoded CSV file (customers.ingest.decode_csv). Raises
    UsageFileError when the file cannot be read at all; every other problem is a RowError."""
    rows = csv_rows(
        lines,
        required=REQUIRED_FIELDS,
        optional=OPTIONAL_FIELDS,
        parse_row=lambda raw, ref: parse_record(raw, ref=ref, limits=limits),
    )
    records, errors = unique_records(rows, ref_label="line")
    if not records and not errors:
        raise UsageFileError("the file has a header but no data rows")
    return LifecycleBatch(records=records, errors=errors)
