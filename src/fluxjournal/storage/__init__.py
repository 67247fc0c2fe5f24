"""Storage: the store contract, the schema with every SQL statement, one module per backend
(SQLite, PostgreSQL) and the factory that picks a backend by URL."""
