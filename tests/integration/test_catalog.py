import uuid
from decimal import Decimal

import pytest

from recsys.connections import new_postgres_connection, postgres_connection
from recsys.domain import Item, User
from recsys.stores.catalog import PostgresCatalog


@pytest.fixture
def catalog(settings):
    return PostgresCatalog(postgres_connection(settings))


def test_item_is_written_and_read_back(catalog, settings):
    item_id = f"movie_{uuid.uuid4().hex[:8]}"
    item = Item(
        item_id=item_id,
        title="Inception",
        category="Sci-Fi",
        tags=("dream", "heist"),
        content_features={"director": "Christopher Nolan", "year": 2010},
        thumbnail_url="https://cdn.example.com/inception.jpg",
        avg_rating=Decimal("4.80"),
    )
    catalog.upsert_item(item)
    stored = catalog.get_item(item_id)
    assert stored is not None
    assert (stored.title, stored.category, stored.tags) == ("Inception", "Sci-Fi", ("dream", "heist"))
    assert stored.content_features == {"director": "Christopher Nolan", "year": 2010}
    assert stored.avg_rating == Decimal("4.80")
    assert stored.created_at is not None

    catalog.upsert_item(Item(item_id=item_id, title="Inception (2010)", category="Sci-Fi"))
    assert catalog.get_item(item_id).title == "Inception (2010)"
    # The row really is in PostgreSQL, read through a connection of its own.
    with new_postgres_connection(settings) as conn:
        count = conn.execute("SELECT count(*) FROM items WHERE item_id = %s", (item_id,)).fetchone()[0]
    assert count == 1


def test_categories_name_each_catalogued_items_category_and_leave_unknown_items_out(catalog):
    tag = uuid.uuid4().hex[:8]
    catalog.upsert_item(Item(item_id=f"c_{tag}_1", title="A", category="Drama"))
    catalog.upsert_item(Item(item_id=f"c_{tag}_2", title="B"))  # no category
    assert catalog.categories([f"c_{tag}_1", f"c_{tag}_2", f"c_{tag}_missing"]) == {
        f"c_{tag}_1": "Drama",
        f"c_{tag}_2": None,
    }


def test_unknown_item_and_user_are_none(catalog):
    assert catalog.get_item("no-such-item") is None
    assert catalog.get_user("no-such-user") is None


def test_user_is_written_and_read_back(catalog):
    user_id = f"user_{uuid.uuid4().hex[:8]}"
    catalog.upsert_user(User(user_id=user_id, preferred_categories=("sci-fi", "drama"), country="US"))
    stored = catalog.get_user(user_id)
    assert stored.preferred_categories == ("sci-fi", "drama")
    assert stored.country == "US" and stored.is_new_user is True


def test_sql_injection_in_values_is_stored_as_data(catalog):
    item_id = f"x'); DROP TABLE items; --{uuid.uuid4().hex[:4]}"
    catalog.upsert_item(Item(item_id=item_id, title="'; DELETE FROM items; --"))
    assert catalog.get_item(item_id).title == "'; DELETE FROM items; --"


def test_an_event_twice_in_one_batch_is_counted_once(settings):
    catalog = PostgresCatalog(postgres_connection(settings))
    item = f"movie_{uuid.uuid4().hex[:8]}"
    catalog.upsert_item(Item(item_id=item, title="Twice"))
    user = f"user_{uuid.uuid4().hex[:8]}"
    event = (uuid.uuid4().hex, user, item)
    assert catalog.count_interactions([event, event]) == 1  # a redelivery beside its original
    assert catalog.count_interactions([event]) == 0
    assert catalog.get_item(item).interaction_count == 1
    assert catalog.get_user(user).total_interactions == 1


def test_two_shards_counting_the_same_items_at_once_get_every_count_right(settings):
    """The realtime consumers of two shards count overlapping items in concurrent transactions,
    each in bulk: neither may deadlock the other, and every count adds up."""
    import threading

    tag = uuid.uuid4().hex[:6]
    items = [f"movie_{tag}_{n}" for n in range(30)]
    setup = PostgresCatalog(postgres_connection(settings))
    setup.upsert_items([Item(item_id=i, title=i) for i in items])

    def count(shard: int, errors: list) -> None:
        try:
            own = PostgresCatalog(new_postgres_connection(settings))
            for round_ in range(20):
                # the same items in different orders, each shard with its own users
                order = items if (round_ + shard) % 2 else items[::-1]
                events = [
                    (f"{tag}-{shard}-{round_}-{n}", f"u_{tag}_{shard}_{n % 3}", i)
                    for n, i in enumerate(order)
                ]
                own.count_interactions([*events, (f"{tag}-{shard}-{round_}-x", f"u_{tag}_{shard}_0", None)])
        except Exception as exc:  # a deadlock would surface here
            errors.append(exc)

    errors: list = []
    threads = [threading.Thread(target=count, args=(shard, errors)) for shard in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {setup.get_item(i).interaction_count for i in items} == {40}
    totals = [
        setup.get_user(f"u_{tag}_{shard}_{n}").total_interactions for shard in range(2) for n in range(3)
    ]
    assert totals == [20 * 11, 20 * 10, 20 * 10] * 2  # user 0 also has the event of an unknown item


def _counting_reads(settings, reads: list[list[str]]):
    """A catalog on the shared connection that records the ids of each read of items."""

    class Counted(PostgresCatalog):
        def get_items(self, item_ids):
            reads.append(list(item_ids))
            return super().get_items(item_ids)

    return lambda: Counted(postgres_connection(settings))


def test_the_request_paths_catalog_keeps_items_and_serves_a_change_once_it_checks(settings):
    from dataclasses import replace

    from recsys.stores.catalog import CachedCatalog

    store = PostgresCatalog(postgres_connection(settings))
    reads: list[list[str]] = []
    counted = _counting_reads(settings, reads)

    now = [0.0]
    cached = CachedCatalog(counted, 5, clock=lambda: now[0])
    tag = uuid.uuid4().hex[:6]
    first, second, absent = f"movie_{tag}_1", f"movie_{tag}_2", f"movie_{tag}_3"
    store.upsert_items([Item(item_id=first, title="First"), Item(item_id=second, title="Second")])

    assert {i: item.title for i, item in cached.get_items([first, second, absent]).items()} == {
        first: "First",
        second: "Second",
    }
    assert cached.get_item(first).title == "First" and cached.get_items([absent]) == {}
    assert reads == [[first, second, absent]]  # kept, the absent one too

    store.upsert_item(replace(store.get_item(first), title="First, renamed", is_active=False))
    store.upsert_item(Item(item_id=absent, title="Third"))
    now[0] = 4.0
    assert cached.get_item(first).title == "First"  # not checked yet
    now[0] = 5.0
    found = cached.get_items([first, second, absent])
    assert (found[first].title, found[first].is_active, found[absent].title) == (
        "First, renamed",
        False,
        "Third",
    )
    # what changed is read again (and what was written within the overlap before the last check)
    assert len(reads) == 2 and {first, absent} <= set(reads[1])
    cached.get_items([first, second, absent])
    assert len(reads) == 2


def test_the_request_paths_catalog_serves_the_models_snapshot_but_not_what_was_written_since(settings):
    """Items the published snapshot holds are served without a read, unless written after it was
    taken (then PostgreSQL's version is read), and a later write still replaces them."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from recsys.engine.bundle import CatalogSnapshot
    from recsys.stores.catalog import CachedCatalog

    store = PostgresCatalog(postgres_connection(settings))
    reads: list[list[str]] = []
    counted = _counting_reads(settings, reads)

    tag = uuid.uuid4().hex[:6]
    kept, renamed, added = f"movie_{tag}_1", f"movie_{tag}_2", f"movie_{tag}_3"
    store.upsert_items([Item(item_id=kept, title="Kept"), Item(item_id=renamed, title="Before")])
    with new_postgres_connection(settings) as conn:  # both written two hours ago
        conn.execute(
            "UPDATE items SET updated_at = now() - interval '2 hours' WHERE item_id = ANY(%s)",
            ([kept, renamed],),
        )
        conn.commit()
    # taken an hour ago (beyond the overlap), so that only what is written below is newer
    snapshot = CatalogSnapshot.of(
        [replace(store.get_item(kept), title="Kept (in the snapshot)"), store.get_item(renamed)],
        datetime.now(UTC) - timedelta(hours=1),
    )
    store.upsert_item(replace(store.get_item(renamed), title="After"))
    store.upsert_item(Item(item_id=added, title="Added"))
    now = [0.0]
    published: list[CatalogSnapshot | None] = [None]
    cached = CachedCatalog(counted, 5, clock=lambda: now[0], snapshot=lambda: published[0])

    assert cached.get_item(kept).title == "Kept"  # no model loaded yet: read
    published[0] = snapshot
    cached = CachedCatalog(counted, 5, clock=lambda: now[0], snapshot=lambda: published[0])
    reads.clear()
    found = cached.get_items([kept, renamed, added])
    assert {i: item.title for i, item in found.items()} == {
        kept: "Kept (in the snapshot)",  # the snapshot's own, so it was not read
        renamed: "After",
        added: "Added",
    }
    assert reads == [[renamed, added]]

    store.upsert_item(replace(store.get_item(kept), title="Kept, renamed"))
    now[0] = 5.0
    assert cached.get_item(kept).title == "Kept, renamed"
