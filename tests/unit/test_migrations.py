import pytest

from recsys.schema.migrate import (
    Migration,
    MigrationError,
    _check_unchanged,
    load_migrations,
    split_cql_statements,
)


@pytest.mark.parametrize("engine", ["postgres", "cassandra"])
def test_migrations_are_numbered_from_one_without_gaps(engine):
    versions = [m.version for m in load_migrations(engine)]
    assert versions == list(range(1, len(versions) + 1))


def test_cql_split_drops_comments_and_empty_statements():
    text = "-- a; comment\nCREATE TABLE a (x int PRIMARY KEY);\n\n-- b\nCREATE TABLE b (y int PRIMARY KEY);\n"
    assert split_cql_statements(text) == [
        "CREATE TABLE a (x int PRIMARY KEY)",
        "CREATE TABLE b (y int PRIMARY KEY)",
    ]


def test_an_edited_applied_migration_is_refused():
    migration = Migration(1, "0001_x.sql", "CREATE TABLE x ();")
    _check_unchanged("postgres", {1: migration.checksum}, [migration])
    with pytest.raises(MigrationError, match="changed after it was applied"):
        _check_unchanged("postgres", {1: "0" * 64}, [migration])
