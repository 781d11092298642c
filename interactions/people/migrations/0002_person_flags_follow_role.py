"""A person's Django staff and superuser flags follow their principal's role (people.services
.person_flags_follow_role). Before, changing the role of a person's principal in the admin left the flags
as they were: a demoted admin kept /admin/. This clears them for every person whose role is not admin; it
never sets them (an admin an operator cut off from /admin/ stays cut off)."""

from django.conf import settings
from django.db import migrations


def flags_from_roles(apps, schema_editor) -> None:
    person = apps.get_model("people", "Person")
    user = apps.get_model(settings.AUTH_USER_MODEL)
    others = person.objects.exclude(principal__role="admin").values("user_id")
    user.objects.filter(pk__in=others).update(is_staff=False, is_superuser=False)


class Migration(migrations.Migration):
    dependencies = [("people", "0001_initial")]

    operations = [migrations.RunPython(flags_from_roles, migrations.RunPython.noop)]
