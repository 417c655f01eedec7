-- The request path keeps items in memory and asks which changed since it last looked
-- (CachedCatalog): an index, so that asking costs nothing when nothing changed.
CREATE INDEX idx_items_updated ON items(updated_at);
