"""Who the ask box's question is about: an account, or the whole portfolio."""

import pytest

from anomalies.text import ask_subject


@pytest.mark.parametrize(
    "question",
    [
        "",
        "   ",
        "Are there any usage anomalies for my accounts?",
        "are there anomalies in my portfolio",
        "my accounts",
        "All accounts",
        "all my customers?",
        "the portfolio",
    ],
)
def test_the_portfolio_question_names_no_account(question):
    assert ask_subject(question) == ""


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("Beacon", "Beacon"),
        ("Are there any usage anomalies for Beacon?", "Beacon"),
        ("is there an anomaly for DataFlow Systems", "DataFlow Systems"),
        ("Is there any anomaly for DataFlow Systems?", "DataFlow Systems"),
        ("My Accounts Ltd", "My Accounts Ltd"),
    ],
)
def test_an_account_named_in_the_question_is_its_subject(question, subject):
    assert ask_subject(question) == subject
