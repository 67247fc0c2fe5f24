"""job-list's rules as numbers: the RFC 21 job states and results, and the limits of a job row.

flux-core's ``flux_job_state_t`` and ``flux_job_result_t`` (``src/common/libjob``), as
job-list reports them; both cores' ``JobRecord`` and every reader of the jobs table use these.
"""

from __future__ import annotations

# flux_job_state_t
NEW, DEPEND, PRIORITY, SCHED, RUN, CLEANUP, INACTIVE = 1, 2, 4, 8, 16, 32, 64
PENDING = DEPEND | PRIORITY | SCHED
RUNNING = RUN | CLEANUP
STATE_NAMES = {
    NEW: "NEW",
    DEPEND: "DEPEND",
    PRIORITY: "PRIORITY",
    SCHED: "SCHED",
    RUN: "RUN",
    CLEANUP: "CLEANUP",
    INACTIVE: "INACTIVE",
}

# flux_job_result_t
COMPLETED, FAILED, CANCELED, TIMEOUT = 1, 2, 4, 8
RESULT_NAMES = {COMPLETED: "COMPLETED", FAILED: "FAILED", CANCELED: "CANCELED", TIMEOUT: "TIMEOUT"}

#: ``flux jobs``' return code of a job canceled before it ran.
CANCELED_RETURNCODE = -128

#: The jobspec keys a ``jobspec-update`` event may change (RFC 21).
JOBSPEC_UPDATE_ROOTS = ("resources", "tasks", "attributes")

#: The integers a job row holds: job-list's are C integers, SQLite's 64-bit ones.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
#: A wait status is a C int (what ``os.WIFEXITED`` and the rest take).
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
#: Most (rank, core) pairs the entries of an R's ``R_lite`` may name in all (more than a
#: whole machine of 100,000 nodes of 160 cores); past it, or past :data:`MAX_IDS` ranks,
#: the R is refused as malformed rather than expanded.
MAX_CORE_PAIRS = 1 << 24
