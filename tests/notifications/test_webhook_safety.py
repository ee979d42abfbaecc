"""Where a Slack webhook may point (notifications.webhooks): refused URLs never open a
connection, redirects are never followed, and what a customer's name says reaches Slack as
text. The peers are real listeners that count the connections they accept."""

import pytest

from notifications import services
from notifications.models import Channel, Delivery, NotificationPreference
from notifications.webhooks import webhook_url_error

from .conftest import SlackServer
from .webhook_cases import REFUSED_WITHOUT_ALLOW_LIST

pytestmark = pytest.mark.django_db


@pytest.fixture
def anomaly(make_customer, make_anomaly, owner):
    return make_anomaly(customer=make_customer(name="Acme", csm=owner))


@pytest.fixture
def preference(owner):
    # The webhook URL is each test's; the settings are production's unless a test says.
    return NotificationPreference.objects.create(user=owner, slack=True)


def _send(preference, anomaly, url) -> tuple[bool, Delivery]:
    """One attempt at a Slack delivery to `url`: (whether it asks for a retry, the row)."""
    preference.slack_webhook_url = url
    preference.save()
    delivery = Delivery.objects.create(
        user=preference.user, channel=Channel.SLACK, kind=Delivery.Kind.IMMEDIATE, anomaly=anomaly
    )
    retry = services.delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return retry, delivery


def _assert_refused(retry, delivery, preference, message):
    # Permanent: a retry would be refused the same way, so none is asked for, and the
    # owner is told their webhook is broken.
    assert retry is False
    assert delivery.status == "failed"
    assert "Slack webhook refused" in delivery.last_error
    assert message in delivery.last_error
    preference.refresh_from_db()
    assert preference.slack_failing_since is not None


@pytest.mark.parametrize(
    ("url_host", "listen_on", "message"),
    [
        ("127.0.0.1", "127.0.0.1", "points to 127.0.0.1, a loopback address"),
        # No rule about the name: the address it resolves to is what is refused.
        ("localhost", "127.0.0.1", "host localhost resolves to 127.0.0.1, a loopback address"),
        ("[::1]", "::1", "points to ::1, a loopback address"),
        (
            "[::ffff:127.0.0.1]",
            "127.0.0.1",
            "points to ::ffff:127.0.0.1, a loopback address (127.0.0.1 inside IPv6)",
        ),
        # Linux connects 0.0.0.0 to the local host: it would reach the listener.
        ("0.0.0.0", "127.0.0.1", "points to 0.0.0.0, the unspecified address"),  # noqa: S104
    ],
)
def test_it_refuses_a_local_address_without_connecting(
    settings, preference, anomaly, url_host, listen_on, message
):
    with SlackServer(host=listen_on) as listener:
        # On the allow-list, port and all: only the address rule stands in the way.
        settings.SLACK_WEBHOOK_HOSTS = [f"{url_host}:{listener.port}"]

        retry, delivery = _send(
            preference, anomaly, f"https://{url_host}:{listener.port}/services/hook"
        )

        assert listener.connections == 0
    _assert_refused(retry, delivery, preference, message)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("169.254.169.254", "169.254.169.254, a link-local address"),
        ("10.0.0.1", "10.0.0.1, a private address"),
        ("192.168.1.20", "192.168.1.20, a private address"),
        ("172.16.5.4", "172.16.5.4, a private address"),
        ("100.64.0.1", "100.64.0.1, not a public address"),  # carrier-grade NAT
        ("224.0.0.1", "224.0.0.1, a multicast address"),
        ("[ff02::1]", "ff02::1, a multicast address"),
        ("[fe80::1]", "fe80::1, a link-local address"),
        ("[fd00::1]", "fd00::1, a private address"),
        ("240.0.0.1", "240.0.0.1, a private address"),
        # IPv4 inside IPv6 is judged by the IPv4 address it reaches.
        ("[64:ff9b::a9fe:a9fe]", "a link-local address (169.254.169.254 inside IPv6)"),  # NAT64
        ("[2002:7f00:1::]", "a loopback address (127.0.0.1 inside IPv6)"),  # 6to4
    ],
)
def test_it_refuses_a_non_public_address(settings, preference, anomaly, address, message):
    # Nothing can listen there: the message says the rule, not the network, stopped it.
    settings.SLACK_WEBHOOK_HOSTS = [address]

    retry, delivery = _send(preference, anomaly, f"https://{address}/latest/meta-data/")

    _assert_refused(retry, delivery, preference, message)


def test_it_refuses_a_url_saved_before_the_rules(preference, anomaly, bystander):
    # The production allow-list: hooks.slack.com only.
    retry, delivery = _send(preference, anomaly, bystander.url)

    assert bystander.connections == 0
    _assert_refused(retry, delivery, preference, "must point to hooks.slack.com")


def test_it_never_follows_a_redirect(settings, preference, anomaly, slack_server, bystander):
    # The second listener is allowed too (slack_server's fixture allows loopback): only the
    # no-redirect rule keeps the worker away from it.
    settings.SLACK_WEBHOOK_HOSTS = [slack_server.netloc, bystander.netloc]
    slack_server.script = [302]
    slack_server.location = bystander.url

    retry, delivery = _send(preference, anomaly, slack_server.url)

    assert len(slack_server.received) == 1
    assert bystander.connections == 0
    assert retry is False
    assert delivery.status == "failed"
    assert "HTTP 302, a redirect" in delivery.last_error
    preference.refresh_from_db()
    assert preference.slack_failing_since is not None


def test_an_upper_case_url_from_before_is_sent(settings, preference, anomaly, slack_server):
    # Saved before the save-time rules normalised it; TLS still checks the name "localhost".
    settings.SLACK_WEBHOOK_HOSTS = [f"localhost:{slack_server.port}"]

    retry, delivery = _send(
        preference, anomaly, f"HTTPS://LOCALHOST:{slack_server.port}/services/hook"
    )

    assert (retry, delivery.status, delivery.last_error) == (False, "sent", "")
    assert slack_server.host_headers == [f"localhost:{slack_server.port}"]


def test_slack_text_escapes_names_and_causes(preference, make_customer, make_anomaly, slack_server):
    anomaly = make_anomaly(
        customer=make_customer(name="<!channel> & co", csm=preference.user),
        possible_cause="<https://evil.example|click> dropped",
    )

    _, delivery = _send(preference, anomaly, slack_server.url)

    assert delivery.status == "sent"
    [body] = slack_server.received
    text = body["text"]
    assert "<!channel>" not in text
    assert "<https://evil" not in text
    assert "at &lt;!channel&gt; &amp; co*\n" in text  # the bold title still bold
    assert "&lt;!channel&gt; &amp; co: 67% drop in API calls" in text
    assert "possible cause: &lt;https://evil.example|click&gt; dropped" in text
    # Our own link is untouched.
    assert f"\nhttps://tremor.example.com/customers/{anomaly.customer_id}/?metric=api_calls" in (
        text
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        *REFUSED_WITHOUT_ALLOW_LIST,
        ("https://127.0.0.1/hook", "points to 127.0.0.1, a loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "points to ::ffff:127.0.0.1, a loopback address"),
        ("https://[::ffff:a9fe:a9fe]/hook", "a link-local address (169.254.169.254 inside IPv6)"),
        ("https://192.168.0.7/hook", "192.168.0.7, a private address"),
        ("https://0.0.0.0/hook", "the unspecified address"),
        ("https://224.0.0.251/hook", "a multicast address"),
        ("https://metadata/computeMetadata/v1/", "is a local name"),
        ("https://printer.local/hook", "is a local name"),
        ("https://user:secret@example.com/hook", "user name or password"),
        ("http://example.com/hook", "must start with https://"),
        ("https://example.com:99999/hook", "not a valid URL"),
    ],
)
def test_without_an_allow_list_only_public_hosts_on_443_pass(settings, url, message):
    settings.SLACK_WEBHOOK_HOSTS = []
    assert message in webhook_url_error(url)
    assert webhook_url_error("https://example.com/hook") is None
    assert webhook_url_error("HTTPS://Example.COM/hook") is None
    assert webhook_url_error("https://[2606:4700:4700::1111]/hook") is None


def test_an_allowed_network_opens_its_addresses_only(settings):
    settings.SLACK_WEBHOOK_HOSTS = ["10.20.0.5", "10.30.0.5", "relay:8443"]
    settings.SLACK_WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/24"]
    assert webhook_url_error("https://10.20.0.5/hook") is None
    assert "a private address" in webhook_url_error("https://10.30.0.5/hook")
    # A single-label name the operator listed is theirs: its addresses are checked at send.
    assert webhook_url_error("https://relay:8443/hook") is None
    assert "must point to 10.20.0.5 or 10.30.0.5 or relay:8443" in webhook_url_error(
        "https://relay/hook"
    )
