"""The local cloud: real PostgreSQL, Redis, Cassandra and an AWS emulator on loopback,
set up from template.yaml. Development tooling only; nothing here is deployed."""
