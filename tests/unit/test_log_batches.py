"""How the interaction log cuts a bulk write into Cassandra batches (batch_rows)."""

from recsys.stores.interaction_log import BATCH_BYTES, UNLOGGED_BATCH_ROWS, batch_rows


def one_node(key: bytes) -> tuple[str, ...]:
    return ()


def test_a_partitions_rows_travel_together_however_they_arrived():
    arrived = [(f"user_{n % 3}".encode(), n, 300) for n in range(30)]  # users interleaved
    batches = batch_rows(arrived, one_node)
    assert len(batches) == 1
    routing_key, rows = batches[0]
    assert [n % 3 for n in rows] == [0] * 10 + [1] * 10 + [2] * 10
    assert routing_key == b"user_0"


def test_a_batch_stays_within_its_rows_and_bytes():
    many = [(b"user_1", n, 300) for n in range(UNLOGGED_BATCH_ROWS + 1)]
    assert [len(rows) for _, rows in batch_rows(many, one_node)] == [UNLOGGED_BATCH_ROWS, 1]
    large = [(b"user_1", n, BATCH_BYTES // 3 + 1) for n in range(5)]
    assert [len(rows) for _, rows in batch_rows(large, one_node)] == [2, 2, 1]


def test_on_a_cluster_a_batch_holds_only_rows_of_the_same_replicas():
    owners = {b"a": ("n1", "n2"), b"b": ("n2", "n3"), b"c": ("n1", "n2")}
    rows = [(key, n, 300) for n, key in enumerate([b"a", b"b", b"c", b"b", b"a"])]
    batches = batch_rows(rows, owners.__getitem__)
    assert [(key, sorted(group)) for key, group in batches] == [(b"a", [0, 2, 4]), (b"b", [1, 3])]
    for key, group in batches:
        assert {owners[rows[n][0]] for n in group} == {owners[key]}
