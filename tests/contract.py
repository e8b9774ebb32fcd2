"""The data contract's column names, spelled out from ../shared/CONTRACT.md.

Deliberately not imported from the code: the tests compare what the code writes with
what the contract says, so a change to either shows up as a failing test.
"""

CLIENT_COLUMNS = [
    "client_id",
    "therapist_id",
    "intake_date",
    "site",
    "program",
    "age",
    "gender",
    "primary_concern",
    "referral_source",
    "planned_sessions",
    "discharge_date",
    "discharge_reason",
]
RISK_LIST_COLUMNS = [
    "client_id",
    "therapist_id",
    "site",
    "risk",
    "risk_tier",
    "rank",
    "reason_1",
    "reason_2",
    "reason_3",
    "sessions_attended",
    "last_attended",
    "scored",
    "not_scored_reason",
    "model_version",
    "risk_within_horizon",
]
REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]
