from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import selectors, services
from .models import ApiToken


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>` checked against our hashed ApiToken rows.

    A subclass of DRF's TokenAuthentication for two things it already does right: parsing the
    header (keyword, malformed values) and answering 401 with `WWW-Authenticate: Token`.
    drf-spectacular's TokenScheme matches subclasses, so the schema keeps its `tokenAuth`.
    """

    model = ApiToken

    def authenticate_credentials(self, key):
        token = selectors.api_token_usable(key=key)
        # Unknown, revoked and expired read the same: the client's fix is a new token anyway.
        if token is None:
            raise AuthenticationFailed("Invalid or expired token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        services.api_token_mark_used(token=token)
        return (token.user, token)
