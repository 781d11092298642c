"""Django admin for API tokens (names, roles, agent skills, revocation)."""

from django.contrib import admin

from interactions.access.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "source_prefix", "hint", "created_at", "revoked_at")
    list_filter = ("role",)
    search_fields = ("name", "source_prefix")
    readonly_fields = ("hint", "created_at")
    fields = ("name", "role", "source_prefix", "skills", "hint", "created_at", "revoked_at")

    def has_add_permission(self, request) -> bool:
        # A token's secret is shown only at creation, which the create_token command does.
        return False
