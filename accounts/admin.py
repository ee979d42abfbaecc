from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Ops see which tokens exist and revoke them; nobody sees a key after its creation (only
    its hash is stored; the add page shows the new key once)."""

    actions = ["revoke"]
    list_display = ["prefix_shown", "name", "user", "created_at", "expires_at", "last_used_at"]
    list_filter = ["created_at", "expires_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__username"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "expires_at"]
        return [
            "prefix_shown",
            "user",
            "name",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["prefix_shown", "user", "created_at", "last_used_at", "revoked_at"]

    @admin.display(description="token", ordering="prefix")
    def prefix_shown(self, obj):
        state = " (revoked)" if obj.revoked_at else ""
        return f"{obj.prefix}…{state}"

    def save_model(self, request, obj, form, change):
        if not change:
            request.new_api_token_key = obj.assign_new_key()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # The key is rendered into this one response, never into a message (messages travel in
        # a cookie) or a redirect URL.
        response = TemplateResponse(
            request,
            "admin/accounts/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "title": "API token created",
                "opts": self.model._meta,
                "token": obj,
                "key": request.new_api_token_key,
            },
        )
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = services.api_token_revoke(tokens=queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
