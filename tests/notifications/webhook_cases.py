"""Webhook URLs the preferences page and the API both refuse, with the message each shows:
one list, so the two cannot drift apart."""

# With the production allow-list, hooks.slack.com.
REFUSED_BY_DEFAULT = [
    (
        "https://example.com/services/T0/B0/x",
        "The Slack webhook URL must point to hooks.slack.com.",
    ),
    ("https://127.0.0.1/services/T0/B0/x", "The Slack webhook URL must point to hooks.slack.com."),
    (
        "https://hooks.slack.com:8443/services/T0/B0/x",
        "The Slack webhook URL must point to hooks.slack.com.",
    ),
    (
        "https://me:pw@hooks.slack.com/services/T0/B0/x",
        "The Slack webhook URL must not contain a user name or password.",
    ),
]

# With SLACK_WEBHOOK_HOSTS empty: any public host on port 443.
REFUSED_WITHOUT_ALLOW_LIST = [
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
    ("https://localhost/hook", "host localhost is a local name"),
    ("https://[::1]/hook", "points to ::1, a loopback address"),
    ("https://10.1.2.3/hook", "10.1.2.3, a private address"),
    ("https://metadata.google.internal/computeMetadata/v1/", "is a local name"),
    ("https://example.com:8443/hook", "standard HTTPS port (443)"),
]
