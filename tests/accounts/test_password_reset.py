"""Password reset requests: limited per email and per client address, and always answered
with the same "if an account exists, we sent an email" page."""

import re

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

RESET = "/accounts/password_reset/"
DONE = "/accounts/password_reset/done/"
HOME = "203.0.113.7"


def ask(client, email, *, ip=HOME):
    return client.post(RESET, {"email": email}, REMOTE_ADDR=ip)


@pytest.fixture
def alice(csm):
    csm.email = "alice@example.com"
    csm.save()
    return csm


def test_reset_emails_to_one_address_are_limited(client, alice, mailoutbox):
    answers = [
        ask(client, "Alice@Example.com", ip=f"192.0.2.{n}")
        for n in range(settings.PASSWORD_RESET_LIMIT_PER_EMAIL + 3)
    ]

    assert len(mailoutbox) == settings.PASSWORD_RESET_LIMIT_PER_EMAIL
    # Sent, refused, or no such account: one answer.
    unknown = ask(client, "nobody@example.com", ip="192.0.2.250")
    for answer in [*answers, unknown]:
        assert answer.status_code == 302 and answer["Location"] == DONE
    done = client.get(DONE).content.decode()
    assert "If an account exists for that address, we sent an email" in done


def test_reset_requests_from_one_address_are_limited(client, alice, mailoutbox):
    for n in range(settings.PASSWORD_RESET_LIMIT_PER_ADDRESS):
        ask(client, f"someone{n}@example.com")

    refused = ask(client, "alice@example.com")

    assert refused.status_code == 302 and refused["Location"] == DONE
    assert mailoutbox == []
    ask(client, "alice@example.com", ip="198.51.100.9")
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]


def test_the_limited_reset_still_sets_a_new_password(client, alice, mailoutbox):
    for _ in range(settings.PASSWORD_RESET_LIMIT_PER_EMAIL + 1):
        ask(client, "alice@example.com")
    assert len(mailoutbox) == settings.PASSWORD_RESET_LIMIT_PER_EMAIL

    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", mailoutbox[-1].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
        follow=True,
    )
    assert "Your new password is set" in done.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("a-new-long-passphrase")
