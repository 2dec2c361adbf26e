"""Alembic migrations of the store (run by :meth:`explorec.store.Store.migrate`)."""
