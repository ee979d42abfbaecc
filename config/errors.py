"""Error pages that speak the client's language: JSON under /api/, HTML elsewhere."""

from django.http import JsonResponse
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found, permission_denied, server_error


def bad_request(request, exception=None):
    # What Django refuses before any view runs (a form with more than
    # DATA_UPLOAD_MAX_NUMBER_FIELDS fields, a bad Host): under /api/, still the API's JSON.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return default_bad_request(request, exception)


def not_found(request, exception=None):
    # A path that matches no URL (a malformed id included) never reaches DRF's handler.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def forbidden(request, exception=None):
    # Pages render templates/403.html with the navigation; DRF answers its own views' refusals,
    # and anything else under /api/ (a middleware's refusal) stays JSON too.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Forbidden."}, status=403)
    return permission_denied(request, exception)


def internal_error(request):
    # server_error renders templates/500.html without a request or context processors, so the
    # page needs no database when the database is what failed.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
