"""Versioned schema migrations for PostgreSQL and Cassandra, and the code that applies them."""
