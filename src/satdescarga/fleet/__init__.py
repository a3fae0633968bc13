"""The fleet: many taxpayers kept current on one PostgreSQL by any number of worker processes.

    database   the URL, engines, `init` (ledger, fleet and procrastinate schemas)
    schema     the fleet's tables; migrations/ their Alembic revisions
    vault      e.firmas sealed with AES-256-GCM under the master key
    taxpayers  add (checked, sealed), list, remove, policy, rotate; opening an e.firma to sign
    policy     what is kept current for a taxpayer (directions, kinds, CFDI and/or
               Retenciones, history), and how often
    step       one step: one `sync --no-wait` pass on the shared ledger, then the next look
    outputs    the PackageStore: COPY into fleet_metadata / fleet_cfdi / fleet_xml
    xmldir     XML in a directory every worker shares instead (`fleet init --xml-dir`)
    limits     the pace and the SAT-health breaker every worker shares (LimitedSession)
    queue      procrastinate: the step task, dispatch and recovery of stalled jobs
    worker     a worker process; metrics its Prometheus metrics; status what `fleet status` shows

A step never holds state of its own: everything it knows is in the ledger, so any worker may
run any taxpayer's next step, and a step killed at any point reruns anywhere. Nothing here
imports the emulator: drills, the demo and the throwaway PostgreSQL live in `satdescarga.drills`.
"""
