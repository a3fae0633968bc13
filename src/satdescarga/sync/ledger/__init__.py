"""The sync ledger's room: where every window, request and package is recorded before any action.

sql         SqlLedger (SQLAlchemy Core, any engine) and SqliteLedger (a folder's ledger)
windows     the windows' part of it and the remembering of reads while a run holds its lock
rows        row <-> record translation shared by both
schema      the tables
migrate     Alembic upgrades of a ledger (SQLite file or the fleet's PostgreSQL)
migrations  the Alembic revisions
"""
