"""The task store contract, run against SQLite and a PostgreSQL server the tests start themselves."""
