"""Requests no view should see."""

from django.http import HttpResponseBadRequest, JsonResponse

NUL = "\x00"


class RejectNulMiddleware:
    """Answer 400 to a request with a NUL character in its path, a query parameter or a form
    field (name or value).

    PostgreSQL text can neither store nor compare NUL, so one in a search, a filter or a note
    fails inside the database as a 500: the admin's changelists (`?q=`, `?severity__exact=`),
    the portfolio's `?csm=`, any future view. One rule here covers them all, the admin's and
    third-party pages included, where fixing each view would miss the next one. No browser
    sends NUL from a form, so nothing legitimate is refused. JSON bodies are the serializers'
    to check (DRF's CharField refuses NUL with a field error).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _nul_in(request)
        if where is None:
            return self.get_response(request)
        message = f"The {where} contains a NUL character, which cannot be stored."
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=400)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _nul_in(request) -> str | None:
    """Where the request carries a NUL, or None."""
    if NUL in request.path:
        return "path"
    # request.POST is empty unless the body is form-encoded; a JSON body is not read here.
    for kind, params in (("query parameter", request.GET), ("form field", request.POST)):
        for name, values in params.lists():
            if NUL in name or any(NUL in value for value in values):
                return f"{kind} {name!r}"
    return None
