"""Start-up skips Alembic when the database has the newest revisions: the heads it reads from the migration
scripts without Alembic must be Alembic's own."""

from alembic.script import ScriptDirectory

from models.migrate import alembic_config, script_heads


def test_the_heads_read_from_the_scripts_are_alembics_heads():
    assert script_heads() == set(ScriptDirectory.from_config(alembic_config()).get_heads())
