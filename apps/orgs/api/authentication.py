"""Authentication for API clients: organization API keys (`Authorization: Bearer cm_...`)."""

from django.utils.functional import cached_property
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.orgs.models import ApiKey
from apps.orgs.services import API_KEY_PREFIX, api_key_authenticate

INVALID_API_KEY = "The API key is invalid, expired or revoked."


class ApiKeyUser:
    """The principal of a call made with an API key: authenticated, but no Django user.

    Code that needs a person (created_by, the audit actor) uses `Access.person`, the key's creator.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key

    @cached_property
    def username(self) -> str:
        return f"api-key:{self.api_key.prefix}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj=None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer cm_<prefix>_<secret>`; other bearer tokens are left to the JWT class."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token.strip().startswith(API_KEY_PREFIX):
            return None
        api_key = api_key_authenticate(raw_key=token.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed(INVALID_API_KEY)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer cm_...` organization API keys."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization API key: `Authorization: Bearer cm_<prefix>_<secret>`.",
        }
