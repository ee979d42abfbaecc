"""Browsing and asking in a real browser, over the scanned demo: Maya searches and sorts her
accounts and opens one by its name; the ask box answers the brief's portfolio question with
links to the accounts, and offers the choices when a name fits several of her accounts.
Reuses the journey's demo, browser and login."""

import re

import pytest

from tests.browser.test_csm_journey import _login, browser, demo  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_accounts_list_and_portfolio_question(demo, browser, live_server, screenshots):  # noqa: F811
    from playwright.sync_api import expect

    page, server_errors = _login(browser, live_server.url, "maya")

    page.goto("/customers/")
    rows = page.locator("#accounts tbody tr")
    expect(rows.first).to_be_visible()
    page.screenshot(path=str(screenshots / "accounts.png"), full_page=True)

    # Most open anomalies first: the accounts with open anomalies above the quiet ones.
    page.locator("nav.sort").get_by_role("link", name="Most open anomalies").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=-open_anomalies"))
    counts = [int(c) for c in rows.locator("td:nth-child(6)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 1

    # Search keeps the order and finds DataFlow; its name opens its page.
    page.fill("#accounts-q", "dataflow")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name="DataFlow Systems").click()
    expect(page).to_have_url(re.compile(r"/customers/[0-9a-f-]{36}/$"))
    expect(page.locator("h1").first).to_contain_text("DataFlow Systems")

    # The brief's own first question, typed whole into the ask box.
    page.goto("/")
    page.fill("#ask-customer", "Are there any usage anomalies for my accounts?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator("#answer")
    expect(answer).to_contain_text("Open usage anomalies in your accounts")
    expect(answer).not_to_contain_text("No account called")
    answer.get_by_role("link", name="DataFlow Systems").click()
    expect(page.locator("h1").first).to_contain_text("DataFlow Systems")

    # A name several of her accounts share: the answer offers them, and one click answers.
    word, names = _shared_first_word("maya")
    page.goto("/")
    page.fill("#ask-customer", word)
    page.get_by_role("button", name="Ask").click()
    expect(answer).to_contain_text(f"{len(names)} accounts match “{word}”. Which one?")
    expect(answer).not_to_contain_text("No account called")
    choices = answer.locator("li")
    expect(choices).to_have_count(len(names))
    assert sorted(c.split(" ", 1)[0] for c in choices.all_inner_texts()) == [word] * len(names)
    chosen = sorted(names)[0]
    answer.get_by_role("link", name=chosen, exact=True).click()
    expect(answer).to_contain_text(chosen)
    expect(answer).not_to_contain_text("Which one?")
    assert not server_errors, server_errors


def _shared_first_word(username: str) -> tuple[str, list[str]]:
    """A word that two or more of the CSM's accounts share: "Beacon" for two new Beacon accounts
    of hers (the recent demo gives Maya four names that share nothing), with their names."""
    from customers.models import Customer
    from tests.factories import CustomerFactory

    csm = Customer.objects.filter(csm__username=username).first().csm
    names = ["Beacon Health", "Beacon Labs Inc"]
    for name in names:
        CustomerFactory(name=name, csm=csm)
    return "Beacon", names
