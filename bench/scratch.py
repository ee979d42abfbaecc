"""The scratch PostgreSQL database a bench seeds: on the server DATABASE_URL names, never the
database it names."""

import sys
from urllib.parse import urlsplit, urlunsplit


def scratch_url(url: str, *, name: str, script: str) -> str:
    """`url` pointing at the database `name`; exits (naming `script`) if it is not
    PostgreSQL."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        sys.exit(f"{script} needs PostgreSQL: DATABASE_URL={url!r} is not postgres://")
    return urlunsplit(parts._replace(path="/" + name))


def recreate_database(url: str, *, name: str) -> None:
    """Drop the database `name` (with its connections) and create it empty."""
    import psycopg

    admin = urlunsplit(urlsplit(url)._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
