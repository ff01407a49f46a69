"""The store as its callers see it: three small Protocols, whichever backend is under them.

``StateStore`` is the store (reads by name, and ``transaction()``); ``StoreTransaction`` is what
one transaction can write; ``StatusViews`` are the aggregate reads of metrics and the status
page.  ``gateway.state.store.Store`` implements all three on either adapter (SQLite, the
default, or PostgreSQL: ``gateway.state.backends.open_store``).  Callers type against these,
never against a backend; failures to reach the database are
``gateway.state.database.StoreUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gateway.state.intake_rows import IntakeRows
from gateway.state.records import (
    BatchRecord,
    DiscardRecord,
    ExportRun,
    FindingRecord,
    HookDeliveryRecord,
    InstitutionHold,
    NoticeRecord,
    UploadRecord,
)
from gateway.state.schema import State
from gateway.state.states import (
    FINISHED_BATCH_STATES,
    BatchState,
    ExportRunState,
    NoticeState,
    UploadState,
)
from gateway.state.status_views import BatchCount, CounterValue


class StoreTransaction(Protocol):
    """Writes made inside one store transaction; see ``StateStore.transaction``."""

    now: float
    """The transaction's time (the store's clock when it began)."""

    def serialize(self, subject: str) -> None:
        """Make the read-then-write decisions about ``subject`` taken in transactions that
        call this wait for each other until this one ends (a read after it stays true)."""
        ...

    def record_upload(self, institution: str, filename: str, size: int, sha256: str, *,
                      folder: str | None = None, payload: str | None = None) -> int:
        """Insert a RECEIVED upload and return its id.  ``folder`` is the upload folder it
        came through (``batch/<term_sis_id>``, ``diff/<identifier>``; None: plain /inbox);
        ``payload`` the name its bytes were already put under (None: its id)."""
        ...

    def create_batch(self, institution: str, *, options: dict[str, str] | None = None,
                     row_counts: dict[str, int] | None = None) -> int:
        """Insert an OPEN batch and return its id (ids grow, so they give the queue order).

        ``options`` are the Canvas import parameters it is posted with; ``row_counts`` its
        data rows per kind (for the mass-change guard).  The batch also gets the next of
        its institution's own numbers (``BatchRecord.reference``): what its sender sees,
        so no institution learns another's volume from it."""
        ...

    def add_notice(self, kind: str, institution: str, batch_id: int | None, *,
                   batch_state: BatchState | None = None, reason: str | None = None,
                   export_run_id: int | None = None) -> int:
        """Queue a notice (report or alert) to send as soon as possible.

        ``batch_state`` and ``reason`` fix what the notice reports at the moment it was
        caused, so a report stays true even if an operator moves the batch before it is sent.
        ``export_run_id`` names the export run an export notice is about."""
        ...

    def add_export_run(self, institution: str, export: str, report: str, *, slot: str,
                       trigger: str, parameters: Mapping[str, str]) -> int | None:
        """Queue a SCHEDULED run of ``export`` for ``slot`` and return its id, or None when
        that slot already has a run: a slot (a schedule time, an import, a request) is run
        once, however often it is planned (after a crash, by racing planners)."""
        ...

    def add_finding(self, upload_id: int, finding: FindingRecord) -> None:
        """Record one validation finding of an upload (its ``file`` is the upload's name)."""
        ...

    def ops_alert_allowed(self, institution: str, interval: float) -> bool:
        """True (and remembered) when ops may be alerted about ``institution`` now: at most
        one alert per ``interval`` seconds; suppressed ones are counted."""
        ...

    def hold_institution(self, institution: str, reason: str) -> bool:
        """Stop an institution's queue (no new posts); False if it was already held."""
        ...

    def release_institution(self, institution: str) -> bool:
        """Lift an institution's hold; False if it was not held."""
        ...

    def record_import(self, institution: str, canvas: str, import_id: int, batch_id: int,
                      attempt: int) -> None:
        """Remember that import ``import_id`` of the Canvas at ``canvas`` (its base URL: ids
        are per Canvas instance) is this batch attempt's, for good: a requeue replaces the
        batch's ``import_id``, but the reconcile must still know it."""
        ...

    def reject_alone(self, upload_id: int, *, institution: str, reason: str,
                     problem: str) -> int:
        """Move a RECEIVED upload to REJECTED in a new batch of its own (which the sorter
        then ends as REJECTED, with a report to the sender); returns the batch id.  Raises
        TransitionError if the upload is no longer RECEIVED."""
        ...

    def record_discard(self, institution: str, filename: str, *, folder: str | None,
                       size: int, reason: str) -> int:
        """Remember an upload the intake dropped without receiving it (a temp-named file
        never renamed), so its sender is told: in status.json and the next batch's report."""
        ...

    def claim_discards(self, institution: str, batch_id: int) -> int:
        """Give the institution's discards no report has named yet to ``batch_id``'s
        reports; returns how many."""
        ...

    def queue_hook_events(self, hook: str, events: Mapping[int, str], cursor: int) -> None:
        """Queue ``events`` (notice id -> event name) for webhook ``hook`` and move its cursor
        to notice ``cursor``: both or neither, so no event is skipped or queued twice."""
        ...

    def hook_attempted(self, delivery: HookDeliveryRecord, state: NoticeState, *,
                       error: str | None = None, next_attempt_at: float | None = None) -> None:
        """Record one try of ``delivery``: SENT, FAILED, or PENDING again at
        ``next_attempt_at``.  Compare-and-set on PENDING; raises TransitionError if another
        sender moved it meanwhile."""
        ...

    def mark_purged(self, batch_id: int) -> None:
        """Record that retention removed the batch's payloads (its record stays)."""
        ...

    def set_mark(self, name: str, at: float | None) -> None:
        """Set (or with None, clear) a named time mark, such as ``clean_stop``."""
        ...

    def move(self, entity: str, record_id: int, expected: State, new: State,
             reason: str | None = None, **fields: Any) -> None:
        """Compare-and-set ``entity`` ``record_id`` from ``expected`` to ``new``.

        ``fields`` are written in the same statement.  Raises TransitionError when the edge is
        not drawn in the tables or the record is not in ``expected`` (someone else moved it)."""
        ...

    def update(self, entity: str, record_id: int, expected: State, **fields: Any) -> None:
        """Change fields of a record that must still be in ``expected``; the state stays."""
        ...



class StatusViews(Protocol):
    """Aggregate reads for metrics, the status page and ``gateway status``."""

    clock: Callable[[], float]

    def counters(self, families: Iterable[str]) -> list[CounterValue]:
        """The metric counters of ``families`` (kept in transactions; never the history)."""
        ...

    def waiting_uploads(self) -> dict[str, int]:
        """Per institution, its uploads waiting for a batch (the running totals)."""
        ...

    def batch_counts(self, states: Iterable[BatchState]) -> list[BatchCount]:
        """Batches in ``states`` per institution and state, with the oldest one's creation
        time (only batches in ``states`` are visited)."""
        ...

    def oldest_waiting_uploads(self) -> dict[str, float]:
        """Per institution, when its oldest upload still waiting for a batch arrived."""
        ...

    def outbox_depth(self) -> dict[str, int]:
        """Notices not sent, by state."""
        ...

    def recent_batches(self, limit: int) -> list[BatchRecord]:
        """The newest ``limit`` batches, newest first."""
        ...

    def current_batches(self, unfinished: Iterable[BatchState], successes: Iterable[BatchState],
                        institutions: Sequence[str], only: str | None = None
                        ) -> list[BatchRecord]:
        """Batches in ``unfinished`` states (only ``only``'s, if given) and the latest batch
        in one of ``successes`` of each of ``institutions``, oldest first; never a scan of
        the history."""
        ...

    def institutions_seen(self) -> set[str]:
        """Every institution that ever had an upload or a finished batch."""
        ...

    def latest_uploads(self, institutions: Sequence[str]) -> dict[str, tuple[str, float]]:
        """The latest upload of each of ``institutions``: file name, arrival."""
        ...


    def institution_holds(self) -> dict[str, InstitutionHold]:
        """The institutions whose queues an operator stopped, by name."""
        ...


class StateStore(StatusViews, Protocol):
    """The state store: named reads, and every change inside ``transaction()``."""

    intake: IntakeRows
    """The intake's tables (marks, inbox, open uploads, bans, sessions)."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """Run the block as one write transaction; commit on success, roll back on error."""
        ...

    def close(self) -> None:
        """Release this thread's connection (SQLite) or the pool (PostgreSQL)."""
        ...

    def upload(self, upload_id: int) -> UploadRecord:
        """One upload; raises KeyError when there is none."""
        ...

    def upload_by_payload(self, name: str) -> UploadRecord | None:
        """The upload whose record names payload ``name``, if one was committed."""
        ...

    def uploads(self, *, institution: str | None = None, state: UploadState | None = None,
                batch_id: int | None = None) -> list[UploadRecord]:
        """Uploads matching every filter given, in arrival order."""
        ...

    def waiting_bytes(self, institution: str) -> int:
        """Bytes of the institution's uploads received and not yet batched: a running total
        kept in the transactions that receive and batch uploads, so one row is read however
        many uploads wait."""
        ...

    def waiting(self, institution: str, *, newest: bool = False, limit: int | None = None,
                through: int | None = None) -> list[UploadRecord]:
        """The institution's RECEIVED uploads in arrival order (``newest``: newest first),
        at most ``limit`` of them (None: all), only those up to id ``through`` if given.
        Read through the ``uploads_by_state`` index: only the rows returned are visited."""
        ...

    def waiting_named(self, institution: str, folder: str | None,
                      filename: str) -> UploadRecord | None:
        """The newest RECEIVED upload of ``filename`` in upload folder ``folder`` (None:
        /inbox itself), read through the ``uploads_by_name`` index."""
        ...

    def unpurged_batches(self, states: frozenset[BatchState], ended_by: float,
                         limit: int, after: int = 0) -> list[BatchRecord]:
        """Up to ``limit`` batches in ``states`` that ended by ``ended_by`` and whose
        payloads retention has not purged yet, oldest first, from id ``after`` + 1 on."""
        ...

    def known_uploads(self, upload_ids: Iterable[int]) -> set[int]:
        """Those of ``upload_ids`` that have a record."""
        ...

    def named_payloads(self, names: Iterable[str]) -> set[str]:
        """Those of ``names`` that an upload record gives as its payload's name."""
        ...

    def batch(self, batch_id: int) -> BatchRecord:
        """One batch; raises KeyError when there is none."""
        ...

    def batches(self, *, institution: str | None = None,
                state: BatchState | None = None) -> list[BatchRecord]:
        """Batches matching every filter given, oldest first."""
        ...

    def head_batch(self, institution: str,
                   finished: frozenset[BatchState] = FINISHED_BATCH_STATES) -> BatchRecord | None:
        """The oldest batch of an institution not in ``finished``: the one whose turn it is."""
        ...

    def notices(self, *, state: NoticeState | None = None, due_by: float | None = None,
                batch_id: int | None = None) -> list[NoticeRecord]:
        """Notices in ``state`` (and due by ``due_by``, about batch ``batch_id``, if given),
        oldest first."""
        ...

    def findings(self, batch_id: int, limit: int | None = None) -> list[FindingRecord]:
        """Findings of a batch's uploads in upload then row order (all, or the first
        ``limit``)."""
        ...

    def finding_count(self, batch_id: int) -> int:
        """How many findings a batch's uploads have."""
        ...

    def history(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """Every state change of a record, oldest first (time, from, to, reason)."""
        ...


    def successes(self, institution: str, before: int, limit: int = 500) -> list[BatchRecord]:
        """The institution's imported batches older than batch ``before``, newest first."""
        ...

    def last_imported(self, institution: str) -> tuple[int, BatchRecord] | None:
        """The institution's batch that most recently finished importing, by completion order
        (not batch id: a lower-id batch can finish later, released from a hold), with its
        place in that order: the id of its move to IMPORTED*, written in the move's own
        transaction and never reused.  None before the first import."""
        ...

    def import_ids(self, institution: str, canvas: str) -> set[int]:
        """Ids of the imports the gateway made in the Canvas at ``canvas`` (a base URL), for
        any institution, plus those recorded for ``institution`` before the Canvas was."""
        ...

    def held_from(self, batch_id: int) -> BatchState | None:
        """The state a batch was in when it was last moved to HELD (None if never held)."""
        ...

    def discards(self, institution: str, *, batch_id: int | None = None,
                 limit: int = 20) -> list[DiscardRecord]:
        """The institution's discards, newest first: those a batch's reports name
        (``batch_id``), else the latest ``limit`` of them."""
        ...

    def hook_cursor(self, hook: str) -> int | None:
        """The last notice id webhook ``hook`` has looked at (None: never started)."""
        ...

    def last_notice_id(self) -> int:
        """The newest notice's id (0 when there is none)."""
        ...

    def notices_after(self, notice_id: int, limit: int = 500) -> list[NoticeRecord]:
        """Notices newer than ``notice_id``, oldest first, at most ``limit``."""
        ...

    def hook_deliveries(self, *, hook: str | None = None, due_by: float | None = None,
                        state: NoticeState | None = None) -> list[HookDeliveryRecord]:
        """Webhook deliveries (of ``hook``, in ``state``), oldest first; with ``due_by``,
        the PENDING ones due by then."""
        ...

    def mark(self, name: str) -> float | None:
        """The time of a named mark (see Transaction.set_mark), or None."""
        ...

    def notice(self, notice_id: int) -> NoticeRecord:
        """One notice; raises KeyError when there is none."""
        ...


    def export_run(self, run_id: int) -> ExportRun:
        """One run; raises KeyError when there is none."""
        ...

    def due_export_runs(self, now: float) -> list[ExportRun]:
        """Runs not yet ended whose next step is due, oldest first."""
        ...

    def export_runs(self, institution: str | None = None, export: str | None = None,
                    limit: int = 100) -> list[ExportRun]:
        """Runs (of an institution, of one export), newest first."""
        ...

    def last_triggered_run(self, institution: str, export: str,
                           trigger: str) -> ExportRun | None:
        """The newest run of the export queued by ``trigger`` (``request``, ``start`` ...;
        None if never)."""
        ...

    def last_export_runs(self, institution: str | None = None) -> list[ExportRun]:
        """The newest run of each export (of ``institution``, if given)."""
        ...

    def claimed_report_ids(self, institution: str, report: str) -> set[int]:
        """Canvas report ids some run of the institution already owns."""
        ...

    def export_run_ids(self, states: tuple[ExportRunState, ...]) -> set[int]:
        """Ids of the runs in ``states``."""
        ...

    def export_file_names(self, institution: str, export: str) -> set[str]:
        """The outbox names the export's runs were given."""
        ...

    def active_export_run_counts(self) -> dict[tuple[str, str, str], int]:
        """Runs not yet ended per (institution, export, state) (ended runs not visited)."""
        ...
