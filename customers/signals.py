"""Signals customers send so that apps above them can react without customers importing them.

`lifecycle_changed` is how a recorded, changed or deleted lifecycle change reaches the anomaly
outcomes (anomalies.services.outcomes, connected in anomalies.apps): customers import nothing
of anomalies, and outcomes must follow every entry point (admin, API, import, demo).

It is sent synchronously, inside the transaction that writes the lifecycle changes, so the
derived outcomes commit (or roll back) with them: a client that records a churn sees the
anomalies' outcomes in its very next request, and no broker is needed for it.

Arguments: `customer_ids` (the accounts whose lifecycle changed) and `removed_event_ids` (events
about to be deleted, which the receiver must stop pointing at before they go).
"""

from django.dispatch import Signal

lifecycle_changed = Signal()
