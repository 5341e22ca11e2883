"""Playbooks: the widgets, queries and charts behind the notebooks in `notebooks/`.

Each class opens one case and has the same shape: widgets that re-run it on change, `refresh`,
`widget()` to display, `charts` and `tables` with the results, and `export` (also behind its
export button) to save the charts for the postmortem.
"""

from secobs.playbooks.abuse_baselines import AbuseBaselinesPlaybook
from secobs.playbooks.account_takeover import AccountTakeoverPlaybook
from secobs.playbooks.adhoc_sql import AdhocSqlPlaybook
from secobs.playbooks.base import Playbook
from secobs.playbooks.blast_radius import BlastRadiusPlaybook
from secobs.playbooks.evidence_integrity import EvidenceIntegrityPlaybook
from secobs.playbooks.triage import TriageOverviewPlaybook

__all__ = [
    "AbuseBaselinesPlaybook",
    "AccountTakeoverPlaybook",
    "AdhocSqlPlaybook",
    "BlastRadiusPlaybook",
    "EvidenceIntegrityPlaybook",
    "Playbook",
    "TriageOverviewPlaybook",
]
