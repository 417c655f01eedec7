"""The MovieLens loader, on a small file set in MovieLens-100k's atomic format (no download)."""

from localcloud import seed
from recsys.connections import cassandra_session, postgres_connection, redis_client
from recsys.stores.catalog import PostgresCatalog
from recsys.stores.feature_store import RedisFeatureStore
from recsys.stores.interaction_log import CassandraInteractionLog


def write_dataset(folder):
    folder.mkdir()
    (folder / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "9001\tSeed Movie A\t1995\tComedy Drama\n"
        "9002\tSeed Movie B\t1996\tThriller\n"
    )
    (folder / "ml-100k.user").write_text("user_id:token\tage:token\tgender:token\toccupation:token\n")
    (folder / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "9101\t9001\t5\t881250949\n"
        "9102\t9001\t4\t881250950\n"
        "9102\t9002\t1\t881250951\n"
    )


def test_movielens_files_land_in_every_store(tmp_path, settings):
    folder = tmp_path / "ml-100k"
    write_dataset(folder)
    catalog = PostgresCatalog(postgres_connection(settings))
    log = CassandraInteractionLog(cassandra_session(settings))
    features = RedisFeatureStore(redis_client(settings))

    assert seed.load(folder, catalog, log, features) == 3

    movie = catalog.get_item("movie_9001")
    assert (movie.title, movie.category, movie.tags) == ("Seed Movie A", "Comedy", ("Comedy", "Drama"))
    assert float(movie.avg_rating) == 4.5 and movie.interaction_count == 2
    assert catalog.get_user("user_9102") is not None
    history = log.for_user("user_9102")
    assert [(i.item_id, i.action) for i in history] == [("movie_9002", "dislike"), ("movie_9001", "watch")]
    ranked = dict(features.popular(1000))
    assert ranked["movie_9001"] == 6.0 and ranked["movie_9002"] == -3.0
    assert dict(features.popular(1000, "Comedy"))["movie_9001"] == 6.0
