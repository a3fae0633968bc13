"""`satdescarga fleet ...`: many taxpayers kept current on PostgreSQL by any number of workers.

The database comes from --db or SATDESCARGA_DB; the master key that seals the e.firmas from
SATDESCARGA_MASTER_KEY or --master-key-file. Passwords are read from files only.

    group     the click group and the shared options (--db, --master-key-file)
    setup     init, new-key, rotate-key: the database and the master key
    clients   add, list, remove, policy: the taxpayers
    running   worker, status, demo: running the fleet and looking at it
    people    user ..., token ...: who may use `satdescarga serve`
"""

from satdescarga.cli.fleet import clients, people, running, setup
from satdescarga.cli.fleet.group import DB_ENV, fleet

__all__ = ["DB_ENV", "clients", "fleet", "people", "running", "setup"]
