def record(external_id="acct-1", metric="logins", day="2024-03-01", value=1, **extra):
    """One usage record as the API and the ingest task take it."""
    return {
        "customer_external_id": external_id,
        "metric": metric,
        "date": day,
        "value": value,
    } | extra
