"""A published model version: what training writes to S3 under `<model_version>/` and serving loads.

model.npz      P, Q (item embeddings), popularity, when each item entered the catalog, and which
               items' embeddings were learned from interactions (the others placed by content)
items.json     position -> item_id, and each item's category
index.faiss    the FAISS index over Q
metadata.json  version, algorithm, parameters, blend, counts, index recall, rating calibration,
               timings; for a model trained on Spark, the run's id, counts and timings
catalog.json   the active catalog as the refresh read it, column by column (CatalogSnapshot)
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
import numpy.typing as npt

from recsys.domain import Item
from recsys.engine import index as faiss_index
from recsys.engine.blend import Blend
from recsys.engine.model import ItemVectors, Matrix, Vector

if TYPE_CHECKING:  # serving never imports the trainer
    from recsys.engine.training import TrainedModel

FILES = ("model.npz", "items.json", "index.faiss", "metadata.json", "catalog.json")


class CatalogSnapshot:
    """Every active item, with all its fields, as the refresh read the catalog at `taken_at`:
    published with the model, so that an execution environment holds in memory every item the
    model can answer with from its first request (CachedCatalog serves from it each item that
    was not written since). Kept as columns, and an item is built only when it is asked for: at
    100,000 items, reading it costs a fraction of what building every Item would."""

    _COLUMNS = (
        "item_id", "title", "description", "category", "subcategory", "tags", "content_features",
        "thumbnail_url", "avg_rating", "interaction_count", "is_active", "created_at",
    )  # fmt: skip

    def __init__(self, taken_at: datetime, columns: dict[str, list[Any]]) -> None:
        self.taken_at = taken_at
        self._columns = columns
        self._position = {item_id: n for n, item_id in enumerate(columns["item_id"])}

    def __len__(self) -> int:
        return len(self._position)

    @classmethod
    def of(cls, items: Sequence[Item], taken_at: datetime) -> CatalogSnapshot:
        columns: dict[str, list[Any]] = {name: [getattr(i, name) for i in items] for name in cls._COLUMNS}
        columns["tags"] = [list(tags) for tags in columns["tags"]]
        columns["avg_rating"] = [None if r is None else str(r) for r in columns["avg_rating"]]
        columns["created_at"] = [None if t is None else t.isoformat() for t in columns["created_at"]]
        return cls(taken_at, columns)

    def get(self, item_id: str) -> Item | None:
        n = self._position.get(item_id)
        if n is None:
            return None
        c = self._columns
        rating, created = c["avg_rating"][n], c["created_at"][n]
        return Item(
            item_id=item_id,
            title=c["title"][n],
            description=c["description"][n],
            category=c["category"][n],
            subcategory=c["subcategory"][n],
            tags=tuple(c["tags"][n]),
            content_features=dict(c["content_features"][n]),
            thumbnail_url=c["thumbnail_url"][n],
            avg_rating=None if rating is None else Decimal(rating),
            interaction_count=c["interaction_count"][n],
            is_active=c["is_active"][n],
            created_at=None if created is None else datetime.fromisoformat(created),
        )

    def to_bytes(self) -> bytes:
        return json.dumps({"taken_at": self.taken_at.isoformat(), "columns": self._columns}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CatalogSnapshot:
        document = json.loads(data)
        return cls(datetime.fromisoformat(document["taken_at"]), document["columns"])


@dataclass
class ModelBundle:
    version: str
    item_ids: list[str]
    categories: list[str | None]
    P: Matrix  # 2 × items rows: EASE's block, then the next-item model's
    Q: Matrix
    popularity: Vector
    created: Vector  # epoch seconds each item entered the catalog
    warm: npt.NDArray[np.bool_]  # items whose embeddings were learned from interactions
    index: faiss.Index
    metadata: dict[str, Any]
    catalog: CatalogSnapshot
    position: dict[str, int] = field(init=False)
    vectors: ItemVectors = field(init=False)
    name_rank: npt.NDArray[np.int64] = field(init=False)  # each position's item id's place in id order

    def __post_init__(self) -> None:
        self.position = {item_id: n for n, item_id in enumerate(self.item_ids)}
        self.vectors = ItemVectors(self.Q)
        self.name_rank = np.empty(len(self.item_ids), dtype=np.int64)
        self.name_rank[np.argsort(np.asarray(self.item_ids, dtype=str), kind="stable")] = np.arange(
            len(self.item_ids)
        )
        self._by_popularity = np.argsort(-self.popularity, kind="stable")
        self._category_order: dict[str | None, npt.NDArray[np.int64]] = {}

    def _ordered(self, category: str | None) -> npt.NDArray[np.int64]:
        if category not in self._category_order:
            order = self._by_popularity
            if category is not None:
                order = np.asarray([p for p in order if self.categories[p] == category], dtype=np.int64)
            self._category_order[category] = order
        return self._category_order[category]

    def search(self, queries: Matrix, k: int) -> tuple[Matrix, npt.NDArray[np.int64]]:
        """The top k items of each query by inner product with Q (scores, positions; -1 where
        fewer are found). With Q = I the exact answer is the query's own top k, taken directly;
        otherwise the FAISS index answers."""
        if not self.vectors.all_unit:
            return faiss_index.search(self.index, queries, k)
        k = min(k, len(self.item_ids))
        scores = np.empty((len(queries), k), dtype=np.float32)
        positions = np.empty((len(queries), k), dtype=np.int64)
        for row, query in enumerate(np.asarray(queries, dtype=np.float32)):
            scores[row], positions[row] = self.vectors.top(query, k)
        return scores, positions

    def category_positions(self, category: str | None) -> npt.NDArray[np.int64]:
        """Positions of a category's items (every item for None), most popular first."""
        return self._ordered(category)

    def popular_positions(self, category: str | None, k: int) -> npt.NDArray[np.int64]:
        return self._ordered(category)[:k]

    def predicted_rating(self, score: float) -> float | None:
        """The rating that users gave, in training, to items the model scored like this (isotonic
        calibration, metadata `rating_calibration`); None when the log holds no ratings."""
        calibration = self.metadata.get("rating_calibration")
        if not calibration:
            return None
        return round(float(np.interp(score, calibration["scores"], calibration["ratings"])), 2)

    @classmethod
    def from_trained(
        cls,
        version: str,
        model: TrainedModel,
        index: faiss.Index,
        metadata: dict[str, Any],
        catalog: CatalogSnapshot,
    ) -> ModelBundle:
        return cls(
            version,
            model.item_ids,
            model.categories,
            model.P,
            model.Q,
            model.popularity,
            model.created,
            model.warm,
            index,
            metadata,
            catalog,
        )

    @property
    def blend(self) -> Blend:
        return Blend().with_overrides(self.metadata.get("blend") or {})

    def to_files(self) -> dict[str, bytes]:
        arrays = io.BytesIO()
        np.savez(arrays, P=self.P, Q=self.Q, popularity=self.popularity, created=self.created, warm=self.warm)
        items = {"item_ids": self.item_ids, "categories": self.categories}
        return {
            "model.npz": arrays.getvalue(),
            "items.json": json.dumps(items).encode(),
            "index.faiss": faiss_index.to_bytes(self.index),
            "metadata.json": json.dumps(self.metadata, indent=2, sort_keys=True).encode(),
            "catalog.json": self.catalog.to_bytes(),
        }

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> ModelBundle:
        metadata = json.loads(files["metadata.json"])
        items = json.loads(files["items.json"])
        arrays = npz_arrays(files["model.npz"])
        P, Q, popularity, warm = arrays["P"], arrays["Q"], arrays["popularity"], arrays["warm"]
        created = arrays["created"]
        index = faiss_index.from_bytes(files["index.faiss"])
        nprobe = (metadata.get("index") or {}).get("nprobe")
        if nprobe:
            faiss.extract_index_ivf(index).nprobe = int(nprobe)
        if index.ntotal != len(items["item_ids"]) or P.shape != (2 * Q.shape[0], Q.shape[1]):
            raise ValueError(f"model {metadata.get('model_version')} is inconsistent: index and items differ")
        return cls(
            version=str(metadata["model_version"]),
            item_ids=list(items["item_ids"]),
            categories=list(items["categories"]),
            P=P,
            Q=Q,
            popularity=popularity,
            created=created,
            warm=warm,
            index=index,
            metadata=metadata,
            catalog=CatalogSnapshot.from_bytes(files["catalog.json"]),
        )


_HEADER_BYTES = 65_536 + 16
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed .npz (np.savez) as read-only views of `data`, without a copy:
    np.load read each through zipfile, which copied it and computed its CRC (78 MB at 100,000
    items: 200 ms of a cold start; S3's own checksum has already covered the bytes). Any other
    archive (compressed members, object arrays) is read by np.load."""
    view = memoryview(data)
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                return _np_load(data)
            # the local header: 30 bytes, then the name and an extra field of its own lengths
            local = view[member.header_offset : member.header_offset + 30]
            if bytes(local[:4]) != b"PK\x03\x04":
                return _np_load(data)
            name_length, extra_length = struct.unpack("<HH", local[26:30])
            start = member.header_offset + 30 + name_length + extra_length
            # the .npy header only (at most 64 KiB in format 1.0): a BytesIO of a memoryview copies it
            npy = io.BytesIO(view[start : start + min(member.file_size, _HEADER_BYTES)])
            version = np.lib.format.read_magic(npy)
            if version not in _HEADER_READERS:
                return _np_load(data)
            try:
                shape, fortran, dtype = _HEADER_READERS[version](npy)
            except ValueError:  # a header longer than what was read
                return _np_load(data)
            if dtype.hasobject or fortran:
                return _np_load(data)
            count = int(np.prod(shape))  # 1 for a scalar's ()
            array = np.frombuffer(view, dtype=dtype, count=count, offset=start + npy.tell())
            arrays[member.filename[: -len(".npy")]] = array.reshape(shape)
    return arrays


def _np_load(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data)) as arrays:
        return {name: arrays[name] for name in arrays.files}
