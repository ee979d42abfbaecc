import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_customer_list_requires_login(client):
    response = client.get(reverse("customer-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_csm_sees_only_their_accounts(client, csm, other_csm, make_customer):
    make_customer(name="Mine Ltd", csm=csm)
    make_customer(name="Theirs Inc", csm=other_csm)
    client.force_login(csm)
    response = client.get(reverse("customer-list"))
    assert response.status_code == 200
    assert b"Mine Ltd" in response.content
    assert b"Theirs Inc" not in response.content


def test_staff_sees_every_account(client, staff, csm, other_csm, make_customer):
    make_customer(name="Mine Ltd", csm=csm)
    make_customer(name="Theirs Inc", csm=other_csm)
    client.force_login(staff)
    response = client.get(reverse("customer-list"))
    assert b"Mine Ltd" in response.content
    assert b"Theirs Inc" in response.content


def test_login_page_has_csrf_protection(client):
    response = client.get(reverse("login"))
    assert b"csrfmiddlewaretoken" in response.content


# The accounts page as a list (issue 14, item 1).


def _names(response) -> list[str]:
    return [c.name for c in response.context["page"].object_list]


def test_each_account_name_links_to_its_page(client, csm, make_customer):
    customer = make_customer(name="Quiet Ltd", csm=csm)
    client.force_login(csm)
    response = client.get(reverse("customer-list"))
    link = reverse("customer-detail", args=[customer.pk])
    assert f'<a href="{link}">Quiet Ltd</a>'.encode() in response.content


def test_search_by_name_keeps_only_matches(client, csm, make_customer):
    for name in ("Beacon Labs", "Beacon Health", "Acme"):
        make_customer(name=name, csm=csm)
    client.force_login(csm)
    response = client.get(reverse("customer-list"), {"q": "beacon"})
    assert _names(response) == ["Beacon Health", "Beacon Labs"]
    response = client.get(reverse("customer-list"), {"q": "zzz"})
    assert response.status_code == 200
    assert b"No account name contains" in response.content
    assert client.get(reverse("customer-list"), {"q": "a\x00"}).status_code < 500


def test_search_never_reveals_another_csms_account(client, csm, other_csm, make_customer):
    make_customer(name="Beacon Mine", csm=csm)
    make_customer(name="Beacon Theirs", csm=other_csm)
    client.force_login(csm)
    assert _names(client.get(reverse("customer-list"), {"q": "Beacon"})) == ["Beacon Mine"]


def test_sorts_by_arr_health_open_anomalies_and_renewal(client, csm, make_customer, make_anomaly):
    import datetime as dt

    from customers.models import HealthScoreHistory

    small = make_customer(name="Small", csm=csm, arr=1_000, renewal_date=dt.date(2027, 3, 1))
    big = make_customer(name="Big", csm=csm, arr=90_000, renewal_date=dt.date(2027, 1, 1))
    mid = make_customer(name="Mid", csm=csm, arr=20_000)
    # The latest score counts, not the lowest: Big was at 10 and is now 80.
    HealthScoreHistory.objects.create(
        customer=big, date=dt.date(2026, 11, 1), score=10, usage_component=10
    )
    HealthScoreHistory.objects.create(
        customer=big, date=dt.date(2026, 11, 20), score=80, usage_component=80
    )
    HealthScoreHistory.objects.create(
        customer=small, date=dt.date(2026, 11, 20), score=40, usage_component=40
    )
    make_anomaly(mid, status="open", metric_type="logins")
    make_anomaly(mid, status="open", metric_type="api_calls")
    make_anomaly(small, status="open")
    make_anomaly(big, status="resolved", end_date=dt.date(2026, 11, 28))
    client.force_login(csm)

    def order(sort):
        return _names(client.get(reverse("customer-list"), {"sort": sort}))

    assert order("name") == ["Big", "Mid", "Small"]
    assert order("-arr") == ["Big", "Mid", "Small"]
    assert order("arr") == ["Small", "Mid", "Big"]
    assert order("health") == ["Small", "Big", "Mid"]  # no score sorts last
    assert order("-health") == ["Big", "Small", "Mid"]
    assert order("-open_anomalies") == ["Mid", "Small", "Big"]
    assert order("renewal") == ["Big", "Small", "Mid"]
    # Dates read as on every other page ("Jan 1, 2027", not Django's "Jan. 1, 2027").
    page = client.get(reverse("customer-list")).content.decode()
    assert "Jan 1, 2027" in page and "Mar 1, 2027" in page and "Jan. 1" not in page
    response = client.get(reverse("customer-list"), {"sort": "-open_anomalies"})
    rows = {
        c.name: (c.open_anomalies, c.health_score) for c in response.context["page"].object_list
    }
    assert rows == {"Mid": (2, None), "Small": (1, 40), "Big": (0, 80)}


def test_unknown_sort_answers_a_clear_message_not_500(client, csm, make_customer):
    make_customer(name="Acme", csm=csm)
    client.force_login(csm)
    response = client.get(reverse("customer-list"), {"sort": "password"})
    assert response.status_code == 400
    assert b"sort: unknown order" in response.content
    assert _names(response) == ["Acme"]


def test_paginates_25_a_page(client, csm, make_customer):
    for i in range(30):
        make_customer(name=f"Account {i:02d}", csm=csm)
    client.force_login(csm)
    first = client.get(reverse("customer-list"))
    assert len(_names(first)) == 25
    assert b"Page 1 of 2" in first.content
    second = client.get(reverse("customer-list"), {"page": 2})
    assert _names(second) == [f"Account {i:02d}" for i in range(25, 30)]
    # Not a page number: the first page, not an error.
    assert client.get(reverse("customer-list"), {"page": "x"}).status_code == 200


def test_query_count_does_not_grow_with_rows(
    client, csm, make_customer, make_anomaly, django_assert_num_queries
):
    for _ in range(25):
        customer = make_customer(csm=csm)
        make_anomaly(customer, status="open")
    client.force_login(csm)
    # Session, user, count for the paginator, the bell's unread count, one page of rows with
    # every column (health and open anomalies as subqueries, not a query per row).
    with django_assert_num_queries(5):
        response = client.get(reverse("customer-list"), {"sort": "health"})
    assert len(_names(response)) == 25
