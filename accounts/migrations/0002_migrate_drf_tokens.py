"""Move DRF's authtoken keys into ApiToken, hashed, then drop DRF's table.

rest_framework.authtoken kept every key in clear in `authtoken_token`; its keys are known
here, so existing clients keep working with the same key while only its SHA-256 remains.
The old table is dropped (it is the clear-text copy) and its migration records removed, so
re-adding the app one day would create it afresh. A fresh database has no such table.
"""

import hashlib

from django.db import migrations

OLD_TABLE = "authtoken_token"
PREFIX_CHARS = 12  # accounts.models.PREFIX_CHARS at the time of writing


def hash_drf_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    table = schema_editor.quote_name(OLD_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {table}")  # noqa: S608
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=user_id,
            name="migrated from the old token table",
            prefix=key[:PREFIX_CHARS],
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            created_at=created,
        )
        for key, user_id, created in rows
    )
    schema_editor.execute(f"DROP TABLE {table}")
    schema_editor.execute("DELETE FROM django_migrations WHERE app = %s", ["authtoken"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    # Not reversible in any useful way: the clear keys are gone by design.
    operations = [migrations.RunPython(hash_drf_tokens, migrations.RunPython.noop)]
