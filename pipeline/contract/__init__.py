"""The data contract (``../shared/CONTRACT.md``) in code.

The input tables are checked by :func:`pipeline.contract.validation.validate_tables`,
which composes one module per job:

- ``columns``: the contract's column names, required sets, allowed values and ranges;
- ``parsing``: raw cells to stripped text, dates and numbers, once per column;
- ``rules``: the row and cross-table rules, one :class:`~pipeline.contract.rules.Rule`
  per check on one column;
- ``issues``: running the rules, wording every problem, and the rejected clients;
- ``clean_frames``: the rows that passed, as typed frames;
- ``validation``: ``validate_tables`` and ``ValidatedTables``, orchestrating the others.
"""
