import json
from datetime import date, timedelta

import pytest
from django.urls import reverse

from customers.models import Customer, UsageMetric
from tests.customers.records import record

pytestmark = pytest.mark.django_db

URL = reverse("api-usage-ingest")


def post(client, body, url=URL):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


@pytest.fixture
def accounts(make_customer, csm, other_csm):
    return make_customer(external_id="mine", csm=csm), make_customer(
        external_id="theirs", csm=other_csm
    )


def test_it_requires_login(client, accounts):
    response = post(client, [record(external_id="mine")])
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert not UsageMetric.objects.exists()


def test_the_owner_can_ingest(client, csm, accounts):
    client.force_login(csm)
    response = post(
        client,
        [
            record(external_id="mine", day="2024-03-01"),
            record(external_id="mine", day="2024-03-02"),
        ],
    )
    assert response.status_code == 200
    assert response.json() == {"inserted": 2, "updated": 0, "unchanged": 0, "customers_created": 0}

    response = post(client, [record(external_id="mine", day="2024-03-01", value=7)])
    assert response.json() == {"inserted": 0, "updated": 1, "unchanged": 0, "customers_created": 0}


def test_another_csms_customer_reads_exactly_like_a_missing_one(client, csm, accounts):
    client.force_login(csm)
    response = post(
        client,
        [record(external_id="mine"), record(external_id="theirs"), record(external_id="ghost")],
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"index": 1, "field": "customer_external_id", "message": "unknown customer 'theirs'"},
            {"index": 2, "field": "customer_external_id", "message": "unknown customer 'ghost'"},
        ],
        "error_count": 2,
        "errors_truncated": False,
    }
    assert not UsageMetric.objects.exists()


def test_staff_can_ingest_for_any_customer(client, staff, accounts):
    client.force_login(staff)
    response = post(client, [record(external_id="mine"), record(external_id="theirs")])
    assert response.status_code == 200
    assert response.json()["inserted"] == 2


def test_staff_can_create_customers(client, staff):
    client.force_login(staff)
    response = post(
        client, [record(external_id="new", customer_name="New Co")], URL + "?create_customers=true"
    )
    assert response.status_code == 200
    assert response.json()["customers_created"] == 1
    assert Customer.objects.get(external_id="new").name == "New Co"


def test_a_csm_cannot_create_customers(client, csm):
    client.force_login(csm)
    response = post(client, [record(external_id="new")], URL + "?create_customers=true")
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_a_bad_flag_value_is_a_400(client, staff):
    client.force_login(staff)
    response = post(client, [record()], URL + "?create_customers=maybe")
    assert response.status_code == 400
    assert "create_customers" in response.json()


def test_errors_are_capped_with_a_count_of_all(client, csm, accounts):
    client.force_login(csm)
    records = [record(external_id="mine", day=f"2024-03-{n % 28 + 1:02}") for n in range(150)]
    for n, bad in enumerate(records):
        bad["metric"] = f"Metric {n}"

    response = post(client, records)

    assert response.status_code == 400
    body = response.json()
    assert [e["index"] for e in body["errors"]] == list(range(100))
    assert (body["error_count"], body["errors_truncated"]) == (150, True)


def test_a_record_with_a_million_unknown_keys_is_one_small_error(client, csm, accounts):
    # 15.6 MB, under the body limit: it used to answer 81.6 MB of errors, one per key.
    flood = record(external_id="mine") | {f"k{n:07d}": 1 for n in range(1_200_000)}
    body = json.dumps([flood], separators=(",", ":"))
    assert len(body) > 15_000_000
    client.force_login(csm)

    response = post(client, body)

    assert response.status_code == 400
    assert len(response.content) < 50_000
    assert response.json() == {
        "errors": [
            {
                "index": 0,
                "field": None,
                "message": "record has 1,200,004 fields (at most 10): expected "
                "customer_external_id, metric, date, value and optionally customer_name",
            }
        ],
        "error_count": 1,
        "errors_truncated": False,
    }


def test_per_record_errors_name_index_and_field(client, csm, accounts):
    client.force_login(csm)
    response = post(
        client,
        [
            record(external_id="mine"),
            record(external_id="mine", day="2024-03-02", value="NaN"),
            42,
            record(external_id="mine", day="03/01/2024", metric="Logins"),
        ],
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [
        (1, "value"),
        (2, None),
        (3, "metric"),
        (3, "date"),
    ]
    assert errors[1]["message"] == "record must be an object, got int"
    assert not UsageMetric.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "[{",
        '[{"value": NaN}]',
        '[{"value": Infinity}]',
        "",
        "\x00\x01",
        "[" * 100_000,
    ],
)
def test_malformed_json_is_a_400(client, csm, body):
    client.force_login(csm)
    response = post(client, body)
    assert response.status_code == 400
    assert "detail" in response.json()


def test_bytes_that_are_not_utf8_are_a_400(client, csm):
    client.force_login(csm)
    response = client.post(URL, data=b"\xff\xfe[]", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("body", [{"records": []}, "a string", 3, None])
def test_a_body_that_is_not_a_list_is_a_400(client, csm, body):
    client.force_login(csm)
    response = post(client, json.dumps(body))
    assert response.status_code == 400
    assert response.json() == {"detail": "The body must be a JSON list of records."}


def test_an_empty_list_is_a_400(client, csm):
    client.force_login(csm)
    response = post(client, [])
    assert response.status_code == 400


def test_too_many_records_is_a_400(client, csm, accounts, settings):
    settings.USAGE_API_MAX_RECORDS = 3
    client.force_login(csm)
    records = [record(external_id="mine", day=f"2024-03-0{d}") for d in range(1, 5)]
    response = post(client, records)
    assert response.status_code == 400
    assert response.json() == {"detail": "Too many records: 4, at most 3 per request."}
    assert response.status_code == 400
    assert post(client, records[:3]).status_code == 200


def test_an_oversized_body_is_refused_cleanly(client, csm, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(csm)
    response = post(client, [record(day=f"2024-03-{d:02}") for d in range(1, 29)])
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_a_request_at_the_record_limit_fits_the_body_size_limit(client, staff, accounts, settings):
    client.force_login(staff)
    first_day = date(2020, 1, 1)
    records = [
        record(
            external_id="theirs",
            metric=f"feature:f{i % 500}",
            day=(first_day + timedelta(days=i // 500)).isoformat(),
            value=i,
        )
        for i in range(settings.USAGE_API_MAX_RECORDS)
    ]
    response = post(client, records)
    assert response.status_code == 200, response.content[:500]


def test_an_absurd_value_is_a_400_naming_the_record_and_field(client, csm, accounts):
    client.force_login(csm)
    records = [record(external_id="mine", day=f"2024-03-0{d}", value=1e15) for d in (1, 2, 3)]
    response = post(client, [record(external_id="mine", day="2024-02-29"), *records])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "value"), (2, "value"), (3, "value")]
    assert "USAGE_VALUE_MAX" in errors[0]["message"]
    assert not UsageMetric.objects.exists()


def test_the_value_bound_is_a_setting(client, csm, accounts, settings):
    settings.USAGE_VALUE_MAX = 1e16
    client.force_login(csm)
    response = post(client, [record(external_id="mine", value=1e15)])
    assert response.status_code == 200
    assert UsageMetric.objects.get().value == 1e15


def test_dates_after_tomorrow_and_before_2000_are_400s(client, csm, accounts):
    from django.utils import timezone

    client.force_login(csm)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = post(
        client,
        [
            record(external_id="mine", day=tomorrow.isoformat()),
            record(external_id="mine", day=(tomorrow + timedelta(days=1)).isoformat()),
            record(external_id="mine", day="1999-12-31"),
        ],
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "date"), (2, "date")]
    assert "in the future" in errors[0]["message"]
    assert "before 2000-01-01" in errors[1]["message"]
