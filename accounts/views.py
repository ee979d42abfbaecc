import math

from django.conf import settings
from django.contrib.auth.views import PasswordResetView
from django.http import HttpResponseRedirect
from django.shortcuts import render

from . import services
from .network import client_ip


class LimitedPasswordResetView(PasswordResetView):
    """Django's reset view with a limit per email and per client address. Past a limit no
    email goes out, and the answer is the very same "if an account exists" page: it tells
    neither whether the account exists nor whether the limit was hit."""

    def form_valid(self, form):
        allowed = services.password_reset_request_record(
            email=form.cleaned_data["email"], ip_address=client_ip(self.request)
        )
        if not allowed:
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a login attempt while the username or the address is locked
    out (AXES_LOCKOUT_CALLABLE): one page for every case, so it never tells whether the
    account exists; 429 with Retry-After for clients that read it."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/lockout.html",
        {"cooloff_minutes": math.ceil(seconds / 60)},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
