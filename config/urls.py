from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import LimitedPasswordResetView


def favicon(request):
    # Browsers ask for /favicon.ico whatever the page links; the icon is an SVG among the
    # static files. Resolved per request: the hashed name exists only after collectstatic.
    return redirect(static("tremor/favicon.svg"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    # Before django.contrib.auth.urls: the same URL and name, with limits.
    path("accounts/password_reset/", LimitedPasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from its own URL (?script=), not
    # inline: the Content-Security-Policy allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("anomalies.api_urls")),
    path("api/", include("customers.api_urls")),
    path("api/", include("notifications.api_urls")),
    path("", include("anomalies.urls")),
    path("", include("customers.urls")),
    path("", include("notifications.urls")),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.forbidden"
handler404 = "config.errors.not_found"
handler500 = "config.errors.internal_error"
