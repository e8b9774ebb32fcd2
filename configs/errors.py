"""Errors that map to the contract's exit statuses (../shared/CONTRACT.md)."""

from __future__ import annotations


class InputError(Exception):
    """The inputs cannot be used at all (exit status 2).

    The message names the file, the column and the fix.
    """

    exit_code = 2


class RejectedRowsError(Exception):
    """``--strict`` and at least one row was rejected (exit status 3)."""

    exit_code = 3
