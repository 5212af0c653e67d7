"""The state store: SQLAlchemy (SQLite, PostgreSQL), its schema and rows, the SQLite
file's guard, the leader lease, and the in-memory fake for tests."""
