"""The fleet: many taxpayers kept current on one PostgreSQL by any number of worker processes.

    database   the URL, engines, `init` (ledger, fleet and procrastinate schemas)
    grants     what a worker's role needs (`fleet init --grant`), checked at a worker's start
    schema     the fleet's tables; migrations/ their Alembic revisions
    vault      e.firmas sealed with AES-256-GCM under the master key (a Keyring holds several)
    keys       the fleet's one master key id; rotation row by row, live
    taxpayers  add (checked, sealed), renew, list, remove, policy; opening an e.firma to sign
    fielcache  the e.firmas a worker has opened, forgotten when renewed or removed
    states     each taxpayer's state and its reason (efirma_vencida, error_repetido...)
    history    retention of old jobs and request events; `fleet reset`
    policy     what is kept current for a taxpayer (directions, kinds, CFDI and/or
               Retenciones, history), and how often
    step       one step: one `sync --no-wait` pass on the shared ledger, then the next look
    outputs    the PackageStore: COPY into fleet_metadata / fleet_cfdi / fleet_xml
    xmldir     XML in a directory every worker shares instead (`fleet init --xml-dir`)
    limits     the pace and the SAT-health breaker every worker shares (LimitedSession)
    locks      the per-taxpayer step lock (and the metrics leader's), no transaction pinned
    queue      procrastinate: the step task and its retries, dispatch, recovery, retention
    reconnect  a database that went away: waited for with backoff, said once
    worker     a worker process; metrics its Prometheus metrics; status what `fleet status` shows

A step never holds state of its own: everything it knows is in the ledger, so any worker may
run any taxpayer's next step, and a step killed at any point reruns anywhere. Nothing here
imports the emulator: drills, the demo and the throwaway PostgreSQL live in `satdescarga.drills`.
"""
