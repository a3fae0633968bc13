"""Drills and throwaway rooms: never imported by what runs in production.

throwaway   a PostgreSQL from this machine's binaries (tests, demo, bench)
fleet       a fleet driven through emulated days against the emulator (chaos test, bench)
fleet_demo  `satdescarga fleet demo` / `make fleet-demo`, on the two above
"""
