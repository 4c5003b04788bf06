"""PostgreSQL access: the pool, the unit of work, migrations and the embedded server."""
