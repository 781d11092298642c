"""Ignored-delivery kinds kept before they were cleaned (interactions.connections.services.ignored_kind):
a kind named partly in a sender's words could hold a card number, NUL or a lone surrogate. Each such row is
rewritten as it would be kept now; rows that become one kind are merged (counts added, first and last
seen kept)."""

from django.db import migrations


def clean_kinds(apps, schema_editor):
    # The service's own rule, so that old rows and new deliveries of a kind are counted together.
    from interactions.connections.services import ignored_kind

    IgnoredDelivery = apps.get_model("connections", "IgnoredDelivery")
    for row in IgnoredDelivery.objects.order_by("pk").iterator():
        kept = ignored_kind(row.kind)
        if kept == row.kind:
            continue
        same = IgnoredDelivery.objects.filter(connection_id=row.connection_id, kind=kept).first()
        if same is None:
            IgnoredDelivery.objects.filter(pk=row.pk).update(kind=kept)
            continue
        IgnoredDelivery.objects.filter(pk=same.pk).update(
            count=same.count + row.count,
            first_at=min(same.first_at, row.first_at),
            last_at=max(same.last_at, row.last_at),
        )
        IgnoredDelivery.objects.filter(pk=row.pk).delete()


class Migration(migrations.Migration):
    dependencies = [("connections", "0001_initial")]

    operations = [migrations.RunPython(clean_kinds, migrations.RunPython.noop)]
