"""The bad-input corpus for tests/unit/test_bad_inputs.py.

- dataset: clean generated base datasets and line-level file edits;
- cases: one builder per kind of damage with its expected outcome (CASES: the run goes on
  with the damage quarantined and counted; STOP_CASES: the run stops with one line);
- huge: a multi-million-row sensor file written in chunks, and a memory probe.
"""
