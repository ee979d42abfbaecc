"""Error pages that speak the client's language: JSON under /api/, HTML elsewhere."""

from django.http import JsonResponse
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found, server_error


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


def internal_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
