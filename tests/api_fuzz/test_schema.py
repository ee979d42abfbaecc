"""The OpenAPI contract: complete, valid, every operation authenticated and answering a
described body, and Swagger UI served from our own static files."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_URL = "/api/schema/?format=json"
DOCS_URL = "/api/docs/"
# The schema and its viewer describe the API; they are not part of it.
NOT_API = {"/api/schema/", "/api/docs/"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
CDN_HOSTS = ("cdn.jsdelivr", "unpkg.com", "cdnjs.cloudflare", "fonts.googleapis", "googleapis.com")


@pytest.fixture
def schema(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


def _openapi_path(pattern) -> str:
    """A URL pattern's text in OpenAPI's notation: `<uuid:customer_id>` and
    `(?P<customer_id>...)` both become `{customer_id}`."""
    text = str(pattern.pattern)
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
    return text.replace("^", "").replace("$", "").replace("\\", "")


def _api_paths(resolver=None, prefix="/") -> set[str]:
    resolver = resolver or get_resolver()
    paths = set()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            paths |= _api_paths(entry, prefix + _openapi_path(entry))
        elif isinstance(entry, URLPattern):
            path = prefix + _openapi_path(entry)
            # DRF's format-suffix twins (`.json`) are the same operations.
            if path.startswith("/api/") and "{format}" not in path:
                paths.add(path)
    return paths


def test_the_schema_is_a_valid_openapi_3_document(schema):
    assert str(schema["openapi"]).startswith("3.")
    validate_schema(schema)
    assert list(_operations(schema)), "the schema describes no operation"


def test_every_api_url_is_in_the_schema(schema):
    expected = _api_paths() - NOT_API
    assert expected, "no URL pattern under /api/"
    missing = sorted(expected - set(schema["paths"]))
    assert not missing, f"API URLs missing from the schema: {missing}"
    # And nothing documented that the URLconf does not route.
    extra = sorted(set(schema["paths"]) - expected)
    assert not extra, f"schema paths with no URL pattern: {extra}"


def test_every_operation_answers_a_described_2xx_body(schema):
    undescribed = []
    for label, operation in _operations(schema):
        ok = [code for code in operation.get("responses", {}) if str(code).startswith("2")]
        described = [
            code
            for code in ok
            # 204 has no body by definition: nothing to describe.
            if str(code) == "204"
            or any(
                "schema" in media
                for media in operation["responses"][code].get("content", {}).values()
            )
        ]
        if not described:
            undescribed.append(f"{label} (2xx: {ok or 'none'})")
    assert not undescribed, f"operations without a described 2xx response: {undescribed}"


def test_every_operation_requires_a_token_or_a_session(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert schemes["cookieAuth"]["in"] == "cookie"
    wrong = []
    for label, operation in _operations(schema):
        security = operation.get("security", [])
        names = {name for requirement in security for name in requirement}
        # `{}` in the list would mean "or anonymously".
        if {} in security or not {"tokenAuth", "cookieAuth"} <= names:
            wrong.append(f"{label}: {security}")
    assert not wrong, f"operations not requiring a token or a session: {wrong}"


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get(DOCS_URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for host in CDN_HOSTS:
        assert host not in html
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, "Swagger UI's page loads no script"
    for asset in assets:
        if asset.startswith(("http://", "https://", "//")):
            pytest.fail(f"external asset in Swagger UI's page: {asset}")
    sidecar = [a for a in assets if a.startswith("/static/drf_spectacular_sidecar/")]
    assert any(a.endswith("swagger-ui-bundle.js") for a in sidecar), assets
    for asset in sidecar:
        assert finders.find(asset.removeprefix("/static/")), f"static file not found: {asset}"
    # No inline script (the Content-Security-Policy allows none): the start-up script has a URL
    # of its own, and fetches the schema from ours.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    start = client.get(DOCS_URL, {"script": ""})
    assert start.status_code == 200
    assert start["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in start.content.decode()


def test_spectacular_validates_without_warnings(tmp_path):
    # A subprocess, so drf-spectacular's warnings (printed to stderr) can be shown verbatim.
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "config.settings_test"},
    )
    assert done.returncode == 0, f"spectacular --validate --fail-on-warn:\n{done.stderr}"
