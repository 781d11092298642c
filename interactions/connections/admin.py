"""Django admin for connections: listed and revoked, never showing a secret; what each hook ignored."""

from django.contrib import admin, messages

from interactions.connections.models import Connection, IgnoredDelivery
from interactions.connections.providers import hook_paths
from interactions.connections.services import connection_revoke
from interactions.privacy.forms import MaskedQuery


class IgnoredDeliveryInline(admin.TabularInline):
    model = IgnoredDelivery
    fields = ("kind", "count", "first_at", "last_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(MaskedQuery, admin.ModelAdmin):
    list_display = ("name", "provider", "created_at", "revoked_at", "ignored_total")
    list_filter = ("provider", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name",)
    # The secret columns are never shown: not listed in `fields`, and excluded for good measure.
    exclude = ("sealed_secrets", "secret_digest")
    fields = ("name", "provider", "hooks", "created_at", "revoked_at")
    readonly_fields = fields
    inlines = (IgnoredDeliveryInline,)
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        # Created by `manage.py add_connection`, which takes the secrets and prints the hook URLs.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revocation is final and keeps the name taken: a new account gets a new name, so its events'
        # sources never collide with the old one's.
        return False

    @admin.display(description="hooks")
    def hooks(self, obj: Connection) -> str:
        return "\n".join(f"{purpose} {path}" for purpose, path in hook_paths(obj.provider, obj.name))

    @admin.display(description="ignored deliveries")
    def ignored_total(self, obj: Connection) -> int:
        return sum(obj.ignored.values_list("count", flat=True))

    @admin.action(description="Revoke the selected connections (their hooks answer 404 at once)")
    def revoke(self, request, queryset) -> None:
        revoked = sum(connection_revoke(c) for c in queryset)
        self.message_user(request, f"Revoked {revoked} connection(s).", messages.SUCCESS)
