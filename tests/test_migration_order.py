"""The migration files, read in name order, are the chain Alembic runs: a reader never has to follow down_revision."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from storage.database import alembic_config


def test_the_file_order_is_the_chain_order() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, "two migrations share a parent: chain the newer one after the other"
    chain = [Path(script.path).name for script in reversed(list(scripts.walk_revisions()))]
    files = sorted(path.name for path in Path(scripts.versions).glob("[0-9]*.py"))
    assert chain == files
    numbers = [name.split("_", 1)[0] for name in files]
    assert len(set(numbers)) == len(numbers), "two migration files start with the same number"


def test_the_revision_ids_that_deployed_databases_store_are_kept() -> None:
    """Files were renamed into chain order; the ids in alembic_version of existing databases still resolve."""
    scripts = ScriptDirectory.from_config(alembic_config())
    by_file = {Path(script.path).name: script.revision for script in scripts.walk_revisions()}
    assert by_file["0007_appointments_courses_reminders.py"] == "0008"
    assert by_file["0008_matrix_sync_state.py"] == "0007"
    for revision in ("0001", "0002", "0003", "0006", "0007", "0008", "0009", "0010", "0011", "0012", "0013"):
        assert scripts.get_revision(revision) is not None
