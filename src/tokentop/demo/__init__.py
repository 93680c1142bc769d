"""The built-in demo: a small simulated LLM gateway that writes a JSONL log, a SQLite ledger and serves
per-user usage counters on 127.0.0.1, and acts out the faults tokentop exists to catch (docs/demo.md).

Modules: ``catalogue`` (users, plans, models), ``scenario`` (the failure schedule), ``traffic`` (the
seeded request generator), ``records`` (what each writer writes), ``counters`` / ``endpoint_server``
(the usage endpoint), ``ledger_writer``, ``gateway`` (wires the writers to the generator),
``headless`` and ``launch`` (``tokentop demo``).
"""
