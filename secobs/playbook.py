"""The playbook classes, importable under their first module name.

They live in `secobs.playbooks`, one module per playbook; this module re-exports them so that
`from secobs.playbook import AccountTakeoverPlaybook` keeps working.
"""

from secobs.playbooks import (
    AbuseBaselinesPlaybook,
    AccountTakeoverPlaybook,
    AdhocSqlPlaybook,
    BlastRadiusPlaybook,
    EvidenceIntegrityPlaybook,
    Playbook,
    TriageOverviewPlaybook,
)

__all__ = [
    "AbuseBaselinesPlaybook",
    "AccountTakeoverPlaybook",
    "AdhocSqlPlaybook",
    "BlastRadiusPlaybook",
    "EvidenceIntegrityPlaybook",
    "Playbook",
    "TriageOverviewPlaybook",
]
