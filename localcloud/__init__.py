"""The local cloud: real PostgreSQL, Redis, Cassandra, an AWS emulator and a Lambda runtime on
loopback, set up from template.yaml. Development tooling only; nothing here is deployed."""
