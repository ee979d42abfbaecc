"""Writes. Keyword-only functions named <entity>_<action>, each one transaction."""

import datetime as dt
import struct
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice, repeat

import numpy as np
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from .ingest import RowError, UsageBatch, UsageRecord
from .lifecycle import LifecycleBatch
from .models import Customer, LifecycleEvent, LifecycleKind, LifecycleSource, UsageMetric
from .selectors import active_user_ids_by_username
from .signals import lifecycle_changed
from .usage_csv import EPOCH, UsageTable

# Customer lookups go out in chunks: SQLite allows only 999 parameters in one statement.
_LOOKUP_CHUNK = 900


@dataclass(frozen=True)
class IngestResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    customers_created: int = 0
    # Every rejected record; when `written` is False nothing at all was stored.
    errors: tuple[RowError, ...] = ()
    written: bool = True
    # Accounts that had no CSM and got the one the import named.
    csm_assigned: int = 0
    # (external id, current CSM's username, the username the import named) of every account
    # the import named a different CSM for: an owner is never replaced by an import.
    csm_kept: tuple[tuple[str, str, str], ...] = ()

    @property
    def rejected(self) -> int:
        return len({error.ref for error in self.errors})

    def counts(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "customers_created": self.customers_created,
            "rejected": self.rejected,
        }


def usage_ingest(
    *,
    batch: UsageBatch,
    create_customers: bool = False,
    visible_customers: QuerySet[Customer] | None = None,
    skip_bad_rows: bool = False,
    csm: str = "",
) -> IngestResult:
    """Upsert a parsed batch of usage values; re-ingesting the same batch changes nothing.

    `visible_customers` limits which customers the records may refer to (a CSM's own); a
    record for any other customer is "unknown", worded exactly like one for a customer that
    does not exist, so the answer never reveals another CSM's accounts.

    CSM: an account without one (new or existing) gets the username in its records' `csm`,
    else `csm` (the importer's default; must be an active user). An account that already has
    a CSM keeps it, even when the import names another: handing an account over is a
    decision made in admin, not a side effect of re-importing an old file. Those accounts are
    listed in `csm_kept`. A `csm` naming no active user rejects the record, as does one that
    differs from the csm an earlier record gave the same account.

    All or nothing unless `skip_bad_rows`: if any record is bad (in `batch.errors`, for an
    unknown customer or an unknown csm) nothing is written and the result lists every bad
    record.
    """
    with transaction.atomic():
        records = batch.records
        external_ids = sorted({r.customer_external_id for r in records})
        visible = Customer.objects.all() if visible_customers is None else visible_customers
        customer_ids = _customer_ids(visible, external_ids)

        missing = [e for e in external_ids if e not in customer_ids]
        to_create: dict[str, str] = {}
        if missing and create_customers:
            # An account hidden from the caller is taken, so cannot be created, and must
            # still read as unknown.
            taken = (
                set()
                if visible_customers is None
                else _customer_ids(Customer.objects.all(), missing)
            )
            names = _names_by_external_id(records)
            to_create = {e: names.get(e) or e for e in missing if e not in taken}

        errors = list(batch.errors)
        for record in records:
            external_id = record.customer_external_id
            if external_id not in customer_ids and external_id not in to_create:
                errors.append(_unknown_customer(record.ref, external_id))
        user_ids, csm_errors = _csm_check(records, default=csm)
        errors.extend(csm_errors)
        errors.sort(key=lambda e: e.ref)
        if errors and not skip_bad_rows:
            return IngestResult(errors=tuple(errors), written=False)
        bad_refs = {error.ref for error in errors}
        records = tuple(r for r in records if r.ref not in bad_refs)
        if to_create:
            # An account whose every record was rejected is not created empty.
            wanted = {r.customer_external_id for r in records}
            to_create = {e: name for e, name in to_create.items() if e in wanted}

        customers_created = 0
        if to_create:
            created_ids = _customers_create(to_create)
            customers_created = len(created_ids)
            customer_ids.update(_customer_ids(Customer.objects.all(), list(to_create)))

        rows = [
            (customer_ids[r.customer_external_id], r.metric, r.date, r.value)
            for r in records
            if r.customer_external_id in customer_ids
        ]
        # Accepted race: a customer deleted by someone else between the lookup above and
        # the upsert fails the whole batch on its foreign key; the caller can simply retry.
        if connection.vendor == "postgresql":
            inserted, updated = _usage_upsert_postgres(rows)
        else:
            inserted, updated = _usage_upsert_batched(rows)
        csm_assigned, csm_kept = _csm_assign(
            _csm_by_external_id(records, default=csm), user_ids, customer_ids
        )
        return IngestResult(
            inserted=inserted,
            updated=updated,
            unchanged=len(rows) - inserted - updated,
            customers_created=customers_created,
            errors=tuple(errors),
            csm_assigned=csm_assigned,
            csm_kept=csm_kept,
        )


def usage_import(
    *,
    table: UsageTable,
    create_customers: bool = False,
    skip_bad_rows: bool = False,
    csm: str = "",
) -> IngestResult:
    """`usage_ingest` for a CSV file read in bulk (customers.usage_csv.read_usage_csv): the
    same checks, errors, accounts, CSMs and counts, worked out on the file's columns instead
    of an object per row, and written on PostgreSQL with binary COPY. Any account may be
    named (the import is an ops command). All or nothing unless `skip_bad_rows`.
    """
    with transaction.atomic():
        codes = table.external_ids
        # Accounts are looked up and created for valid records only, as usage_ingest does.
        used = [codes[code] for code in np.unique(table.customer)]
        customer_ids = _customer_ids(Customer.objects.all(), sorted(used))
        missing = [e for e in used if e not in customer_ids]
        to_create: dict[str, str] = {}
        if missing and create_customers:
            named = _first_row_by_customer(table.customer, table.name > 0)
            names = {codes[c]: table.names[table.name[row]] for c, row in named.items()}
            to_create = {e: names.get(e) or e for e in missing}

        errors = list(table.errors)
        known = np.array([e in customer_ids or e in to_create for e in codes], dtype=bool)
        for row in np.flatnonzero(~known[table.customer]):
            errors.append(_unknown_customer(int(table.line[row]), codes[table.customer[row]]))
        user_ids, csm_errors = _csm_check_columns(table, default=csm)
        errors.extend(csm_errors)
        errors.sort(key=lambda e: e.ref)
        if errors and not skip_bad_rows:
            return IngestResult(errors=tuple(errors), written=False)
        keep = ~np.isin(table.line, np.array([e.ref for e in errors], dtype=np.int64))
        if to_create:
            # An account whose every record was rejected is not created empty.
            wanted = {codes[c] for c in np.unique(table.customer[keep])}
            to_create = {e: name for e, name in to_create.items() if e in wanted}

        customers_created = 0
        if to_create:
            customers_created = len(_customers_create(to_create))
            customer_ids.update(_customer_ids(Customer.objects.all(), list(to_create)))

        uuids = [customer_ids.get(e) for e in codes]
        keep &= np.array([u is not None for u in uuids], dtype=bool)[table.customer]
        columns: tuple[np.ndarray, ...] = (table.customer, table.metric, table.day, table.value)
        if not keep.all():  # (a copy of a million rows' columns only when some are left out)
            columns = tuple(column[keep] for column in columns)
        if connection.vendor == "postgresql":
            accounts = [uuids[c] for c in np.unique(columns[0]).tolist()]
            # A first import (no stored row for any of its accounts) cannot conflict: the
            # parser has rejected duplicates inside the file, so its rows go straight in.
            write = (
                _usage_copy_postgres
                if _usage_none_stored(accounts)
                else _usage_upsert_postgres_columns
            )
            inserted, updated = write(_UsageColumns(uuids, table.metrics, *columns))
        else:
            customer, metric, day, value = (column.tolist() for column in columns)
            rows = (
                (uuids[c], table.metrics[m], EPOCH + dt.timedelta(days=d), v)
                for c, m, d, v in zip(customer, metric, day, value, strict=True)
            )
            inserted, updated = _usage_upsert_batched(rows)

        wanted_csm = {codes[c]: csm for c in np.unique(table.customer[keep])} if csm else {}
        for code, first in _first_row_by_customer(table.customer, keep & (table.csm > 0)).items():
            wanted_csm[codes[code]] = table.csms[table.csm[first]]
        csm_assigned, csm_kept = _csm_assign(wanted_csm, user_ids, customer_ids)
        return IngestResult(
            inserted=inserted,
            updated=updated,
            unchanged=int(keep.sum()) - inserted - updated,
            customers_created=customers_created,
            errors=tuple(errors),
            csm_assigned=csm_assigned,
            csm_kept=csm_kept,
        )


def _first_row_by_customer(customer: np.ndarray, mask: np.ndarray) -> dict[int, int]:
    """Customer code -> index of its first row (in file order) among the rows in `mask`."""
    rows = np.flatnonzero(mask)
    codes, first = np.unique(customer[rows], return_index=True)
    return dict(zip(codes.tolist(), rows[first].tolist(), strict=True))


def _csm_check_columns(table: UsageTable, *, default: str) -> tuple[dict[str, int], list[RowError]]:
    """`_csm_check` on a file's columns: an unknown user, or a csm other than the one the
    account's first row with a known user named, is an error of its row."""
    user_ids = _csm_users((table.csms[c] for c in np.unique(table.csm) if c), default=default)
    named = table.csm > 0
    if not named.any():
        return user_ids, []
    is_user = np.array([name in user_ids for name in table.csms], dtype=bool)
    unknown = named & ~is_user[table.csm]
    valid = named & is_user[table.csm]
    first_row = np.zeros(len(table.external_ids), dtype=np.int64)
    for code, row in _first_row_by_customer(table.customer, valid).items():
        first_row[code] = row
    earlier = first_row[table.customer]
    differs = valid & (table.csm != table.csm[earlier])
    errors = []
    for index in np.flatnonzero(unknown | differs):
        row = int(index)
        ref, username = int(table.line[row]), table.csms[table.csm[row]]
        if unknown[row]:
            errors.append(_unknown_csm(ref, username))
        else:
            errors.append(
                _csm_differs(
                    ref,
                    username,
                    table.csms[table.csm[earlier[row]]],
                    int(table.line[earlier[row]]),
                    table.external_ids[table.customer[row]],
                )
            )
    return user_ids, errors


# Rows per statement of usage_series_insert: large enough that the per-statement cost
# vanishes, small enough for steady progress and bounded memory.
USAGE_INSERT_BATCH = 20_000


def usage_series_insert(
    *,
    dates: np.ndarray,
    series: Iterable[tuple[uuid.UUID, str, np.ndarray]],
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write new usage rows from whole series on one calendar: each (customer id, metric,
    values) has one value per day of `dates` (datetime64), NaN for a day without a row.
    Returns the rows written; `progress` hears each batch's row count.

    The fast path for generated data (the demo seed): rows go in as plain tuples (COPY on
    PostgreSQL, executemany on SQLite), with no model instance, no per-row field preparation
    and no existing-row check, several times faster than bulk_create. So it is for accounts
    without usage on these days (new, or just cleared): a row that exists already fails the
    whole call with IntegrityError (one transaction). The caller vouches for the values (the
    ingest's bounds: non-negative, finite); imports go through usage_ingest, which checks
    and upserts."""
    # The calendar as stored text ("2025-10-29"), formatted once, not once per row.
    days = np.datetime_as_string(np.asarray(dates, dtype="datetime64[D]"), unit="D").astype(object)
    customer_field = UsageMetric._meta.get_field("customer")

    def rows():
        for customer_id, metric, values in series:
            present = np.flatnonzero(~np.isnan(values))
            stored_id = customer_field.get_db_prep_value(customer_id, connection)
            yield from zip(
                repeat(stored_id),
                repeat(metric),
                days[present].tolist(),
                values[present].tolist(),
                strict=False,  # repeat() is endless: the days and values bound it
            )

    table = connection.ops.quote_name(UsageMetric._meta.db_table)
    columns = "(customer_id, metric, date, value)"
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for batch in _batched(rows(), USAGE_INSERT_BATCH):
            if connection.vendor == "postgresql":
                # The driver's own COPY: its errors become Django's (IntegrityError) here.
                with connection.wrap_database_errors:
                    with cursor.copy(f"COPY {table} {columns} FROM STDIN") as copy:
                        for row in batch:
                            copy.write_row(row)
            else:
                cursor.executemany(
                    f"INSERT INTO {table} {columns} VALUES (%s, %s, %s, %s)",  # noqa: S608
                    batch,
                )
            written += len(batch)
            if progress is not None:
                progress(len(batch))
    return written


def _csm_by_external_id(records: Iterable[UsageRecord], *, default: str) -> dict[str, str]:
    """The CSM username each account's records name (the first one given), else `default`."""
    named: dict[str, str] = {}
    for record in records:
        if record.csm:
            external_id = record.customer_external_id
            named[external_id] = named.get(external_id) or record.csm
        elif default:
            named.setdefault(record.customer_external_id, "")
    return {e: username or default for e, username in named.items()}


def _csm_check(
    records: Sequence[UsageRecord], *, default: str
) -> tuple[dict[str, int], list[RowError]]:
    """(user id by username, errors) for the csm names of an import, in one query."""
    user_ids = _csm_users((r.csm for r in records if r.csm), default=default)
    errors = []
    first: dict[str, UsageRecord] = {}
    for record in records:
        if not record.csm:
            continue
        if record.csm not in user_ids:
            errors.append(_unknown_csm(record.ref, record.csm))
            continue
        earlier = first.setdefault(record.customer_external_id, record)
        if earlier.csm != record.csm:
            errors.append(
                _csm_differs(
                    record.ref, record.csm, earlier.csm, earlier.ref, earlier.customer_external_id
                )
            )
    return user_ids, errors


def _csm_users(usernames: Iterable[str], *, default: str) -> dict[str, int]:
    user_ids = active_user_ids_by_username(set(usernames) | ({default} if default else set()))
    if default and default not in user_ids:
        raise ValueError(f"no active user {default!r} to make the CSM")
    return user_ids


def _unknown_customer(ref: int, external_id: str) -> RowError:
    return RowError(ref, "customer_external_id", f"unknown customer {external_id!r}")


def _unknown_csm(ref: int, username: str) -> RowError:
    return RowError(
        ref, "csm", f"unknown user {username!r}: csm must be the username of an active user"
    )


def _csm_differs(ref: int, csm: str, earlier: str, earlier_ref: int, external_id: str) -> RowError:
    return RowError(
        ref,
        "csm",
        f"csm {csm!r} differs from {earlier!r} given for customer {external_id!r} "
        f"on line {earlier_ref}",
    )


def _csm_assign(
    wanted: dict[str, str], user_ids: dict[str, int], customer_ids: dict[str, uuid.UUID]
) -> tuple[int, tuple[tuple[str, str, str], ...]]:
    """Give each unowned account in `wanted` (external id -> username) its CSM: one UPDATE
    per CSM and chunk. Returns (accounts assigned, accounts owned by someone else)."""
    ids_by_user: dict[int, list[uuid.UUID]] = {}
    for external_id, username in wanted.items():
        if external_id in customer_ids:
            ids_by_user.setdefault(user_ids[username], []).append(customer_ids[external_id])
    wanted_ids = [i for ids in ids_by_user.values() for i in ids]
    owners: list[tuple[str, int, str]] = []
    for chunk in _batched(wanted_ids, _LOOKUP_CHUNK):
        owners.extend(
            Customer.objects.filter(id__in=chunk, csm__isnull=False).values_list(
                "external_id", "csm_id", "csm__username"
            )
        )
    kept = tuple(
        sorted(
            (external_id, owner, wanted[external_id])
            for external_id, owner_id, owner in owners
            if owner_id != user_ids[wanted[external_id]]
        )
    )
    assigned = 0
    for user_id, ids in ids_by_user.items():
        for chunk in _batched(ids, _LOOKUP_CHUNK):
            # csm IS NULL in the UPDATE itself: an owner set meanwhile is not overwritten.
            assigned += Customer.objects.filter(id__in=chunk, csm__isnull=True).update(
                csm_id=user_id
            )
    return assigned, kept


def customer_calendar_update(
    *,
    customer: Customer,
    holiday_calendar: str | None = None,
    region: str | None = None,
    segment: str | None = None,
) -> Customer:
    """Set an account's holiday calendar and cohorts (None leaves a field as it is; "" is
    the default: the engine's calendar, no cohort). Checked with the model's validators, so
    the API and admin refuse the same values in the same words; the next scan uses them.

    Raises django.core.exceptions.ValidationError naming the bad field."""
    changes = {
        name: value
        for name, value in (
            ("holiday_calendar", holiday_calendar),
            ("region", region),
            ("segment", segment),
        )
        if value is not None
    }
    if not changes:
        return customer
    with transaction.atomic():
        for name, value in changes.items():
            setattr(customer, name, value)
        customer.full_clean(
            exclude=[f.name for f in Customer._meta.fields if f.name not in changes],
            validate_unique=False,
            validate_constraints=False,
        )
        customer.save(update_fields=[*changes, "updated_at"])
    return customer


@dataclass(frozen=True)
class LifecycleImportResult:
    created: int = 0
    updated: int = 0
    # Every rejected record; when `written` is False nothing at all was stored.
    errors: tuple[RowError, ...] = ()
    written: bool = True

    @property
    def rejected(self) -> int:
        return len({error.ref for error in self.errors})


def lifecycle_import(
    *,
    batch: LifecycleBatch,
    source: str = LifecycleSource.IMPORT,
    user=None,
    visible_customers: QuerySet[Customer] | None = None,
) -> LifecycleImportResult:
    """Record a parsed batch of lifecycle changes, all or nothing: if any record is bad (in
    `batch.errors`, or for a customer unknown or not in `visible_customers`) nothing is
    written and the result lists every bad record. A change already recorded (same customer,
    kind and date) is updated, so re-importing a file changes nothing."""
    with transaction.atomic():
        visible = Customer.objects.all() if visible_customers is None else visible_customers
        external_ids = sorted({r.customer_external_id for r in batch.records})
        customer_ids = _customer_ids(visible, external_ids)
        errors = list(batch.errors)
        errors += [
            RowError(r.ref, "customer_external_id", f"unknown customer {r.customer_external_id!r}")
            for r in batch.records
            if r.customer_external_id not in customer_ids
        ]
        if errors:
            errors.sort(key=lambda e: e.ref)
            return LifecycleImportResult(errors=tuple(errors), written=False)
        events = [
            LifecycleEvent(
                customer_id=customer_ids[r.customer_external_id],
                kind=r.kind,
                date=r.date,
                arr_before=r.arr_before,
                arr_after=r.arr_after,
                note=r.note,
                source=source,
                recorded_by=user,
            )
            for r in batch.records
        ]
        created, updated = _lifecycle_upsert(events)
    return LifecycleImportResult(created=created, updated=updated)


def lifecycle_record(
    *,
    customer: Customer,
    kind: str,
    date: dt.date,
    arr_before: Decimal | None = None,
    arr_after: Decimal | None = None,
    note: str = "",
    source: str = LifecycleSource.API,
    user=None,
) -> tuple[LifecycleEvent, bool]:
    """Record one lifecycle change, or update the one of that kind on that day. Returns the
    event and whether it was created. The caller has validated the values
    (customers.lifecycle: parse_record or arr_problem)."""
    with transaction.atomic():
        event = LifecycleEvent(
            customer=customer,
            kind=kind,
            date=date,
            arr_before=arr_before,
            arr_after=arr_after,
            note=note,
            source=source,
            recorded_by=user,
        )
        created, _ = _lifecycle_upsert([event])
        event = LifecycleEvent.objects.select_related("recorded_by").get(
            customer=customer, kind=kind, date=date
        )
    return event, bool(created)


def lifecycle_changed_apply(*, events: Sequence[LifecycleEvent], also_customer_ids=()) -> None:
    """What follows lifecycle changes already written (by lifecycle_import, lifecycle_record,
    or an admin form): a churn marks the account churned, and the anomalies' outcomes are
    derived again (customers.signals.lifecycle_changed). `also_customer_ids`: accounts an
    edit took a change away from.

    A churn sets Customer.status to churned from its date, unless the account's status
    changed after that day (a churn back-filled from last year must not churn an account
    that has since come back). Nothing else changes the status: a renewal after a churn is
    for a person to judge (win-back or data error), in admin.
    """
    with transaction.atomic():
        churned_on: dict[uuid.UUID, dt.date] = {}
        for event in events:
            if event.kind == LifecycleKind.CHURNED:
                churned_on[event.customer_id] = max(
                    event.date, churned_on.get(event.customer_id, event.date)
                )
        by_day: dict[dt.date, list] = {}
        for customer_id, day in churned_on.items():
            by_day.setdefault(day, []).append(customer_id)
        for day, ids in by_day.items():
            Customer.objects.filter(
                Q(status_changed_on__isnull=True) | Q(status_changed_on__lte=day), pk__in=ids
            ).update(status=Customer.Status.CHURNED, status_changed_on=day)
        customer_ids = sorted({e.customer_id for e in events} | set(also_customer_ids))
        lifecycle_changed.send(sender=LifecycleEvent, customer_ids=customer_ids)


def lifecycle_events_delete(*, events: QuerySet[LifecycleEvent]) -> int:
    """Delete lifecycle changes; the outcomes derived from them are derived again without
    them first (an anomaly's derived outcome must always name its change)."""
    with transaction.atomic():
        rows = list(events.values_list("pk", "customer_id"))
        if not rows:
            return 0
        lifecycle_changed.send(
            sender=LifecycleEvent,
            customer_ids=sorted({customer_id for _, customer_id in rows}),
            removed_event_ids=[pk for pk, _ in rows],
        )
        LifecycleEvent.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    return len(rows)


def _lifecycle_upsert(events: list[LifecycleEvent]) -> tuple[int, int]:
    """Insert or update by (customer, kind, date), then apply what follows. Returns
    (created, updated)."""
    customer_ids = {e.customer_id for e in events}
    existing: set[tuple] = set()
    for chunk in _batched(sorted(customer_ids), _LOOKUP_CHUNK):
        existing.update(
            LifecycleEvent.objects.filter(customer_id__in=chunk).values_list(
                "customer_id", "kind", "date"
            )
        )
    created = sum((e.customer_id, e.kind, e.date) not in existing for e in events)
    LifecycleEvent.objects.bulk_create(
        events,
        update_conflicts=True,
        unique_fields=["customer", "kind", "date"],
        update_fields=["arr_before", "arr_after", "note", "source", "recorded_by"],
        batch_size=_LOOKUP_CHUNK // 10,
    )
    lifecycle_changed_apply(events=events)
    return created, len(events) - created


def _batched(items: Iterable, size: int):
    # itertools.batched arrives in Python 3.12; we support 3.11.
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


def _customer_ids(
    queryset: QuerySet[Customer], external_ids: Sequence[str]
) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    for chunk in _batched(external_ids, _LOOKUP_CHUNK):
        found.update(queryset.filter(external_id__in=chunk).values_list("external_id", "id"))
    return found


def _names_by_external_id(records: Iterable[UsageRecord]) -> dict[str, str]:
    names: dict[str, str] = {}
    for record in records:
        if record.customer_name:
            names.setdefault(record.customer_external_id, record.customer_name)
    return names


def _customers_create(names: dict[str, str]) -> set[uuid.UUID]:
    """Create customers by external id; returns the ids of those this call created.

    Another import may create the same account concurrently: its row wins and ours is
    skipped instead of failing the batch. Ids are generated here (UUID primary key), so
    reading them back tells which rows are ours.
    """
    customers = [Customer(external_id=e, name=name) for e, name in names.items()]
    Customer.objects.bulk_create(customers, ignore_conflicts=True, batch_size=_LOOKUP_CHUNK)
    ours = {c.id for c in customers}
    stored = _customer_ids(Customer.objects.all(), list(names))
    return ours & set(stored.values())


# The SQL below is built with f-strings only from the quoted table name from model metadata,
# the constant names of the temporary tables and placeholder lists; every value goes in as a
# parameter or through COPY.


def _usage_upsert_postgres(rows: list[tuple]) -> tuple[int, int]:
    """COPY into a temporary table, then one INSERT ... ON CONFLICT. Returns (inserted, updated)."""
    with connection.cursor() as cursor:
        _temporary_table(
            cursor,
            _STAGE,
            f"SELECT customer_id, metric, date, value FROM {_usage_table()}",  # noqa: S608
        )
        with cursor.copy(f"COPY {_STAGE} (customer_id, metric, date, value) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        counts = _upsert_from(cursor, f"SELECT customer_id, metric, date, value FROM {_STAGE}")  # noqa: S608
        cursor.execute(f"DROP TABLE {_STAGE}")
    return counts


_STAGE = "usage_ingest_stage"
_STAGE_CUSTOMERS = "usage_ingest_stage_customers"
_STAGE_METRICS = "usage_ingest_stage_metrics"
# Memory for the upsert's sort: a million rows fit.
_UPSERT_WORK_MEM = "256MB"
# Rows of the binary COPY encoded at once: a few MB, whatever the file's size.
_COPY_ROWS = 1 << 17
# PostgreSQL's binary COPY: its signature, flags and header extension; a row's field count
# and each field's length before it; a field count of -1 ends the data.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("customer_size", ">i4"),
        ("customer", ">i4"),
        ("metric_size", ">i4"),
        ("metric", ">i4"),
        ("date_size", ">i4"),
        ("date", ">i4"),
        ("value_size", ">i4"),
        ("value", ">f8"),
    ]
)
# A binary date counts days from 2000-01-01; UsageTable counts them from its EPOCH.
_PG_DATE_SHIFT = (dt.date(2000, 1, 1) - EPOCH).days


@dataclass(frozen=True)
class _UsageColumns:
    """An import's rows as columns, customer and metric as codes into `customer_ids` and
    `metrics`."""

    customer_ids: Sequence[uuid.UUID | None]
    metrics: Sequence[str]
    customer: np.ndarray
    metric: np.ndarray
    day: np.ndarray
    value: np.ndarray

    def index_order(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(customer codes' ranks, metric codes' ranks, the rows' order): the rows sorted as
        the usage table's unique index sorts them (customer id bytes, metric bytes, date)."""
        customer_rank = _ranks([u.bytes if u else b"" for u in self.customer_ids])
        metric_rank = _ranks([m.encode() for m in self.metrics])
        order = np.lexsort((self.day, metric_rank[self.metric], customer_rank[self.customer]))
        return customer_rank, metric_rank, order


def _usage_upsert_postgres_columns(rows: _UsageColumns) -> tuple[int, int]:
    """`_usage_upsert_postgres` for columns: the rows go to the stage as binary COPY encoded
    with numpy a block at a time, only the codes' tables with a Python call per entry.

    Codes are renumbered in the upsert's order (customer id bytes, metric bytes) and the rows
    sent sorted, so the database's sort finds them in order.
    """
    customer_rank, metric_rank, order = rows.index_order()
    customer_ids, metrics, day, value = rows.customer_ids, rows.metrics, rows.day, rows.value
    customer, metric = customer_rank[rows.customer], metric_rank[rows.metric]
    with connection.cursor() as cursor:
        _temporary_table(cursor, _STAGE_CUSTOMERS, "SELECT 0::int4 AS code, NULL::uuid AS id")
        _temporary_table(cursor, _STAGE_METRICS, "SELECT 0::int4 AS code, NULL::text AS metric")
        _temporary_table(
            cursor,
            _STAGE,
            "SELECT 0::int4 AS customer_code, 0::int4 AS metric_code, NULL::date AS date, "
            "0::float8 AS value",
        )
        with cursor.copy(f"COPY {_STAGE_CUSTOMERS} (code, id) FROM STDIN") as copy:
            for code, customer_id in zip(customer_rank.tolist(), customer_ids, strict=True):
                if customer_id is not None:
                    copy.write_row((code, customer_id))
        with cursor.copy(f"COPY {_STAGE_METRICS} (code, metric) FROM STDIN") as copy:
            for code, name in zip(metric_rank.tolist(), metrics, strict=True):
                copy.write_row((code, name))
        with cursor.copy(f"COPY {_STAGE} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_COPY_HEADER)
            for start in range(0, len(order), _COPY_ROWS):
                block = order[start : start + _COPY_ROWS]
                records = np.empty(len(block), dtype=_COPY_ROW)
                records["fields"] = 4
                records["customer_size"] = records["metric_size"] = records["date_size"] = 4
                records["value_size"] = 8
                records["customer"] = customer[block]
                records["metric"] = metric[block]
                records["date"] = day[block] - _PG_DATE_SHIFT
                records["value"] = value[block]
                copy.write(records.tobytes())
            copy.write(_COPY_TRAILER)
        # Without statistics the planner guesses millions of rows per code and picks sorts
        # and merge joins; sampled, it hashes the two small tables.
        cursor.execute(f"ANALYZE {_STAGE}, {_STAGE_CUSTOMERS}, {_STAGE_METRICS}")
        counts = _upsert_from(
            cursor,
            f"SELECT c.id AS customer_id, m.metric, s.date, s.value FROM {_STAGE} s "  # noqa: S608
            f"JOIN {_STAGE_CUSTOMERS} c ON c.code = s.customer_code "
            f"JOIN {_STAGE_METRICS} m ON m.code = s.metric_code",
        )
        cursor.execute(f"DROP TABLE {_STAGE}, {_STAGE_CUSTOMERS}, {_STAGE_METRICS}")
    return counts


def _usage_none_stored(customer_ids: Sequence[uuid.UUID | None]) -> bool:
    """Whether none of these accounts has a stored usage row, kept true until the
    transaction ends.

    The accounts are locked FOR UPDATE first: every write of a usage row checks its foreign
    key with FOR KEY SHARE on the account, which only FOR UPDATE blocks (FOR NO KEY UPDATE
    would let a concurrent import add rows between this check and our COPY). A writer that
    got in first is waited for, and its rows seen by the check. In id order, as the upsert
    writes, so two imports lock the same accounts in the same order.
    """
    ids = list(customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(Customer._meta.db_table)} "  # noqa: S608
            "WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            [ids],
        )
        cursor.fetchall()
        # The unique (customer, metric, date) index answers it: one probe per account.
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {_usage_table()} WHERE customer_id = ANY(%s))",  # noqa: S608
            [ids],
        )
        (stored,) = cursor.fetchone()
    return not stored


def _usage_copy_postgres(rows: _UsageColumns) -> tuple[int, int]:
    """Binary COPY of the rows straight into the usage table, for an import that cannot
    conflict (`_usage_none_stored`): no stage, no join, no upsert. Returns (inserted, 0).

    Sent in the upsert's order, so the table and its index fill as the upsert fills them
    (an account's rows together, the index appended to on its right). A row is its fixed
    fields and its metric's bytes: each block is encoded as fixed-width records, the metric
    padded to the longest, and the padding then dropped with one boolean mask.
    """
    _, _, order = rows.index_order()
    ids = np.array([u.bytes if u else bytes(16) for u in rows.customer_ids], dtype="S16")
    names = [m.encode() for m in rows.metrics]
    width = max(map(len, names), default=1)
    name_bytes = np.array(names, dtype=f"S{width}")
    name_sizes = np.array([len(n) for n in names], dtype=np.int64)
    head = [
        ("fields", ">i2"),
        ("customer_size", ">i4"),
        ("customer", "S16"),
        ("metric_size", ">i4"),
    ]
    metric_at = np.dtype(head).itemsize
    record = np.dtype(
        [
            *head,
            ("metric", f"S{width}"),
            ("date_size", ">i4"),
            ("date", ">i4"),
            ("value_size", ">i4"),
            ("value", ">f8"),
        ]
    )
    columns = "customer_id, metric, date, value"
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {_usage_table()} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_COPY_HEADER)
            for start in range(0, len(order), _COPY_ROWS):
                block = order[start : start + _COPY_ROWS]
                codes = rows.metric[block]
                records = np.empty(len(block), dtype=record)
                records["fields"] = 4
                records["customer_size"] = 16
                records["customer"] = ids[rows.customer[block]]
                records["metric_size"] = name_sizes[codes]
                records["metric"] = name_bytes[codes]
                records["date_size"] = 4
                records["date"] = rows.day[block] - _PG_DATE_SHIFT
                records["value_size"] = 8
                records["value"] = rows.value[block]
                keep = np.ones((len(block), record.itemsize), dtype=bool)
                keep[:, metric_at : metric_at + width] = (
                    np.arange(width) < name_sizes[codes][:, None]
                )
                copy.write(
                    records.view(np.uint8).reshape(len(block), record.itemsize)[keep].tobytes()
                )
            copy.write(_COPY_TRAILER)
    return len(order), 0


def _ranks(keys: list[bytes]) -> np.ndarray:
    """rank[i]: the place of keys[i] in byte order."""
    ranks = np.empty(len(keys), dtype=np.int32)
    ranks[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys), dtype=np.int32)
    return ranks


def _usage_table() -> str:
    return connection.ops.quote_name(UsageMetric._meta.db_table)


def _temporary_table(cursor, name: str, select: str) -> None:
    # ON COMMIT DROP alone is not enough: inside an outer transaction (a test, a caller's
    # atomic block) a second call would find the table still there.
    cursor.execute(
        f"DROP TABLE IF EXISTS pg_temp.{name}; "
        f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS {select} WITH NO DATA"
    )


def _upsert_from(cursor, select: str) -> tuple[int, int]:
    """Upsert the usage rows `select` gives (customer_id, metric, date, value) in one
    statement. Returns (inserted, updated).

    The WHERE on DO UPDATE skips rows whose value is unchanged, so a re-import neither
    rewrites them (no dead tuples) nor counts them. A row the statement inserted has
    xmax = 0; one it updated carries our transaction id there.
    """
    # The sort below is of the whole import: in memory it is a pass over rows already in
    # order (the bulk writer sends them so); spilled to disk it was a third of the time.
    # Compiling the statement (JIT) costs seconds and saves nothing on a one-off insert.
    # (Several statements in one call: one round trip, where the query count is watched.)
    cursor.execute(f"SET LOCAL work_mem = '{_UPSERT_WORK_MEM}'; SET LOCAL jit = off")
    # ORDER BY makes two concurrent imports of overlapping data lock rows in the same
    # order, so they wait for each other instead of deadlocking. COLLATE "C": byte order,
    # whatever the database's collation, which is also the order the bulk writer sorts in.
    cursor.execute(
        f"""
        WITH upserted AS (
            INSERT INTO {_usage_table()} AS u (customer_id, metric, date, value)
            {select}
            ORDER BY customer_id, metric COLLATE "C", date
            ON CONFLICT (customer_id, metric, date)
            DO UPDATE SET value = EXCLUDED.value
            WHERE u.value IS DISTINCT FROM EXCLUDED.value
            RETURNING (u.xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM upserted
        """  # noqa: S608
    )
    inserted, updated = cursor.fetchone()
    return inserted, updated


def _usage_upsert_batched(rows: Iterable[tuple]) -> tuple[int, int]:
    """Upsert in statement-sized batches (SQLite). Returns (inserted, updated).

    SQLite cannot tell an inserted row from an updated one after the fact, so each batch
    first reads which keys exist and with what value, then writes only new and changed rows.
    That is exact because a SQLite write transaction excludes every other writer.
    """
    table = connection.ops.quote_name(UsageMetric._meta.db_table)
    customer_field = UsageMetric._meta.get_field("customer")
    date_field = UsageMetric._meta.get_field("date")
    max_params = connection.features.max_query_params
    assert max_params is not None  # None means no limit; SQLite always has one
    batch_size = max_params // 4
    inserted = updated = 0
    with connection.cursor() as cursor:
        for chunk in _batched(rows, batch_size):
            prepared = [
                (
                    customer_field.get_db_prep_value(customer_id, connection),
                    metric,
                    date_field.get_db_prep_value(day, connection),
                    value,
                )
                for customer_id, metric, day, value in chunk
            ]
            keys = ", ".join(["(%s, %s, %s)"] * len(prepared))
            cursor.execute(
                f"SELECT customer_id, metric, date, value FROM {table} "  # noqa: S608
                f"WHERE (customer_id, metric, date) IN (VALUES {keys})",
                [p for row in prepared for p in row[:3]],
            )
            # The driver may hand dates back as date objects or as stored text: compare
            # them in one form.
            existing = {
                (c, m, date_field.to_python(d).isoformat()): v for c, m, d, v in cursor.fetchall()
            }
            writes = []
            for row in prepared:
                old = existing.get(row[:3])
                if old is None:
                    inserted += 1
                elif old != row[3]:
                    updated += 1
                else:
                    continue
                writes.append(row)
            if not writes:
                continue
            values = ", ".join(["(%s, %s, %s, %s)"] * len(writes))
            cursor.execute(
                f"INSERT INTO {table} (customer_id, metric, date, value) VALUES {values} "  # noqa: S608
                "ON CONFLICT (customer_id, metric, date) DO UPDATE SET value = excluded.value",
                [p for row in writes for p in row],
            )
    return inserted, updated
