"""The bench's harness: the servers under test, the workloads and the report.

``bench/run.py`` is the entry point: it parses the arguments and runs the workloads in order.

- ``config``: paths, the bench database and Redis, the environment Tandem runs with.
- ``procfs``: CPU time, RSS and CPU pressure of processes, read from /proc.
- ``servers``: each server under test, started, health-checked, restarted and stopped.
- ``database``: Tandem's bench database, the bench user and each run's documents.
- ``history``: the cold-load workload's typing histories, written straight into the tables.
- ``plan``: how large each workload runs (the full plan, the quick pass).
- ``load``: one run of bench/load.mjs and the CPU it cost the server.
- ``workloads``: idle, cold load, fan-out, audience, saturation, catch-up, profile.
- ``editors``: the big room, the big document and the fan-out with real editors
  (bench/providers.mjs).
- ``capacity``: four replicas on a Redis of their own; Redis, PostgreSQL and CPU per update.
- ``report``: progress lines, medians and ratios, the JSON record and its tables.
- ``publish``: the database's durability settings, and publishing a run only when it is honest.
"""
