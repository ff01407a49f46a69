"""The sorter runner: turns RECEIVED uploads into validated, sealed, ordered batches.

Two phases, each crash-safe on its own:
1. *form*: once an institution's delivery is complete (quiet period, trigger file, or a zip
   on its own), validate every upload with Canvas's rules and, in one transaction, create
   the batches (with their import options and row counts), move every upload to ACCEPTED or
   REJECTED inside one, and store the findings;
2. *seal*: for each OPEN batch build the zip Canvas receives, durably, then move it to READY
   (a receipt is sent) or to REJECTED when nothing in it can be imported.  A crash while
   sealing leaves the batch OPEN and the next round rebuilds the same zip.  (The mass-change
   guard runs later, just before posting: see gateway.forwarding.steps.)

Institutions are sorted side by side, at most ``workers`` at a time (the daemon gives
``min(cores, [sorting] workers)``), each on its own schedule: ``step`` starts a round (form
the next delivery, seal the OPEN batches) for every institution that has none under way and
returns without waiting, so one institution's big file never holds back another's batches.
A round never runs twice at once for one institution, so its deliveries stay in order.
Validation is mostly Python: the threads share the interpreter's lock, so they keep the
queues moving independently rather than multiplying throughput.  Nothing is shared between
institutions but the store, whose transactions (compare-and-set moves) keep each step
crash-safe as before.  A delivery is validated outside the intake's lock and recorded under
it only if it is unchanged (the same uploads still pending): compare-and-set again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from gateway.institutions import Institution
from gateway.runner import EVERY_INSTITUTION, Holdings, Runner, wait_idle
from gateway.sorting.batching import (
    Source,
    is_quiet,
    path_source,
    union_header,
    write_batch_zip,
)
from gateway.sorting.delivery import ZIP_KIND, PlannedBatch, plan_delivery
from gateway.sorting.forming import IntakeGate, UngatedIntake, announce, record_plan, unchecked
from gateway.sorting.identity import attempt_prefix, prefixed_names
from gateway.sorting.kinds import identify
from gateway.sorting.validation import UploadVerdict, ValidationOptions, validate_upload
from gateway.sorting.validation.zips import csv_member_names, member_opener
from gateway.state.custody import Custody, PayloadKey, upload_key
from gateway.state.leases import LeaseLost, log_dropped
from gateway.state.protocols import StateStore
from gateway.state.records import BatchRecord, UploadRecord
from gateway.state.states import BatchState, NoticeKind, TransitionError, UploadState

log = logging.getLogger(__name__)

BATCH_REPORT = NoticeKind.BATCH_REPORT
"""A notice reporting a batch's end (imported, failed, held, rejected)."""
BATCH_RECEIPT = NoticeKind.BATCH_RECEIPT
"""A notice telling the sender a batch was formed and is on its way to Canvas."""
SEAL_ATTEMPTS = 3
"""Rounds a batch may fail to seal before it is held for an operator."""
FORM_ATTEMPTS = 3
"""Rounds an institution's delivery may fail to form before the failing upload is sought."""
FORM_PAUSE_SECONDS = 60
LEADING_ZIPS = 100
"""At most this many zips at the head of the queue are sent on without waiting for quiet
(any further ones go with the next round)."""
"""Pause between tries while forming fails for a whole institution (not one upload)."""


class Sorter(Runner):
    """Forms and seals batches; calls ``on_ready`` when a batch became READY or REJECTED."""

    name = "sorter"

    def __init__(self, *, store: StateStore, custody: Custody,
                 institutions: Callable[[], Mapping[str, Institution]],
                 quiet_seconds: float, on_ready: Callable[[], None],
                 intake: IntakeGate | None = None, workers: int = 1,
                 holdings: Holdings = EVERY_INSTITUTION) -> None:
        super().__init__(idle_seconds=max(0.2, min(quiet_seconds / 2, 5.0)))
        self._store = store
        self._holdings = holdings
        self._custody = custody
        self._institutions = institutions
        self._quiet_seconds = quiet_seconds
        self._on_ready = on_ready
        self._intake = intake or UngatedIntake()
        self._seal_failures: dict[int, int] = {}
        self._form_failures: dict[str, int] = {}
        self._form_paused: dict[str, float] = {}
        """Institutions whose forming fails as a whole: monotonic time of the next try."""
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="sorter")
        self._busy: dict[str, Future[tuple[bool, bool]]] = {}
        self._lock = threading.Lock()
        self._worked = threading.Event()

    def step(self) -> bool:
        """Start a round for every configured institution that has none under way, and seal
        the OPEN batches of institutions no longer configured (to report them rejected).

        Returns without waiting for the rounds (see the module docstring): a round that
        did something wakes the loop itself.  True only when orphans were sealed here.
        Each institution and each batch is handled on its own: an error in one (a zip whose
        password changed, a full disk) is logged and leaves the others untouched; a batch
        that fails to seal ``SEAL_ATTEMPTS`` times is HELD for an operator with the reason.
        """
        institutions = self._institutions()
        for institution in institutions.values():
            if self._holdings.holds(institution.name):  # cluster mode: else another node sorts it
                self._start(institution)
        orphans = [batch for batch in self._store.batches(state=BatchState.OPEN)
                   if batch.institution not in institutions
                   and self._holdings.holds(batch.institution)]
        self._seal_all(orphans, None)
        return bool(orphans)

    def run_round(self) -> bool:
        """One step, waiting for every round it started (tests, offline tools): True if any
        round formed or sealed something, or orphans were sealed."""
        self._worked.clear()
        orphans = self.step()
        self.drain()
        return orphans or self._worked.is_set()

    def drain(self) -> None:
        """Wait until no institution's round is under way."""
        wait_idle(self._lock, self._busy)

    def close(self) -> None:
        """Let the rounds under way finish (each ends in a committed state), then stop."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _start(self, institution: Institution) -> None:
        """Submit the institution's round unless one is under way (rounds of one
        institution never overlap: its deliveries are formed in order)."""
        with self._lock:
            if institution.name in self._busy:
                return
            future = self._pool.submit(self._round, institution,
                                       self._holdings.acting(institution.name))
            self._busy[institution.name] = future

        def done(finished: Future[tuple[bool, bool]]) -> None:
            with self._lock:
                self._busy.pop(institution.name, None)
            if finished.cancelled():  # close() dropped it before it ran: nothing happened
                return
            error = finished.exception()
            if error is not None:
                log.error("sorting round failed", exc_info=error,
                          extra={"institution": institution.name})
            elif any(finished.result()):
                self._worked.set()
                self.wake()  # more may be waiting: look again at once

        future.add_done_callback(done)

    def _round(self, institution: Institution,
               acting: AbstractContextManager[object]) -> tuple[bool, bool]:
        """Form the institution's next delivery, then seal its OPEN batches: (formed,
        sealed any); writes fenced by the epoch ``acting`` pinned when it was decided."""
        with acting:
            formed = self._form_safely(institution)
            sealed = self._store.batches(institution=institution.name, state=BatchState.OPEN)
            self._seal_all(sealed, institution)
        return formed, bool(sealed)

    def _seal_all(self, batches: Sequence[BatchRecord], institution: Institution | None) -> None:
        for batch in batches:
            try:
                self._seal(batch, institution)
            except LeaseLost as error:
                log_dropped(error, batch_id=batch.id)
                return
            except TransitionError as error:  # an operator moved it meanwhile
                log.warning("batch changed while sealing", extra={
                    "batch_id": batch.id, "institution": batch.institution,
                    "error": str(error)})
            except Exception as error:
                self._seal_failed(batch, error)
        if batches:
            self._on_ready()

    def _form_safely(self, institution: Institution) -> bool:
        """Form the institution's next delivery; a failure stays with this institution.

        A failure is retried ``FORM_ATTEMPTS`` rounds (a full disk or a locked database
        passes; so does an operator's action racing the sorter).  Then the oldest waiting
        upload is formed alone; if that fails too while the rest can be planned without
        it, that upload is set aside (rejected with the reason, ops alerted) and the others
        go on.  If the rest fails as well, the fault is the institution's, not a file's:
        nothing is rejected and forming pauses ``FORM_PAUSE_SECONDS`` between tries.
        """
        name = institution.name
        if self._form_paused.get(name, 0.0) > time.monotonic():
            return False
        try:
            formed = self._form(institution)
        except LeaseLost as error:
            log_dropped(error, institution=name)
            return False
        except Exception as error:
            return self._form_failed(institution, error)
        self._form_failures.pop(name, None)
        return formed

    def _form_failed(self, institution: Institution, error: Exception) -> bool:
        name = institution.name
        failures = self._form_failures.get(name, 0) + 1
        self._form_failures[name] = failures
        attempt = {"institution": name, "attempt": failures, "attempts": FORM_ATTEMPTS}
        if isinstance(error, TransitionError):  # an operator moved an upload meanwhile
            log.info("delivery changed while forming", extra={**attempt, "error": str(error)})
        elif failures == 1:  # the traceback once; the repeats as one line each
            log.exception("forming batches failed", extra=attempt)
        else:
            log.warning("forming batches failed", extra={
                **attempt, "error": f"{type(error).__name__}: {error}"})
        if failures < FORM_ATTEMPTS:
            return False
        del self._form_failures[name]
        try:
            return self._isolate(institution)
        except Exception:
            log.exception("isolating the failing upload failed; retrying next round",
                          extra={"institution": name})
            return False

    def _isolate(self, institution: Institution) -> bool:
        """Form the oldest waiting upload alone; set it aside if only it fails (see
        ``_form_safely``).  True if something changed."""
        name = institution.name
        try:
            return self._form(institution, first_only=True)
        except Exception as error:
            alone = error
        waiting = self._store.uploads(institution=name, state=UploadState.RECEIVED)
        try:
            self._plan(institution, waiting[1:])  # a dry run: nothing is recorded
        except Exception:
            self._form_paused[name] = time.monotonic() + FORM_PAUSE_SECONDS
            log.exception("forming fails for the whole institution, not one upload: nothing "
                          "set aside", extra={"institution": name,
                                              "retry_in_seconds": FORM_PAUSE_SECONDS})
            return False
        with self._intake.forming(name):
            return self._set_aside_oldest(name, alone)

    def _set_aside_oldest(self, institution: str, error: Exception) -> bool:
        """Reject the institution's oldest waiting upload alone, in a batch of its own (the
        sender gets its report), and alert ops; True if there was one."""
        waiting = self._store.waiting(institution, limit=1)
        if not waiting:
            return False
        upload = waiting[0]
        problem = (f"{upload.filename}: the gateway failed while forming a batch with this "
                   f"file ({type(error).__name__}); it was not sent to Canvas and the "
                   "gateway's operators were alerted. Upload it again once they say so")
        with self._store.transaction() as txn:
            batch_id = txn.reject_alone(upload.id, institution=institution, reason=problem,
                                        problem=problem)
            txn.add_notice(NoticeKind.GATEWAY_ERROR, institution, batch_id,
                           reason=f"upload {upload.id} set aside: forming it failed "
                                  f"{FORM_ATTEMPTS} rounds and alone, while the others can "
                                  f"be formed: {type(error).__name__}: {error}")
        log.error("upload set aside: forming failed with it alone",
                  extra={"institution": institution, "upload_id": upload.id,
                         "batch_id": batch_id})
        return True

    def _seal_failed(self, batch: BatchRecord, error: Exception) -> None:
        failures = self._seal_failures.get(batch.id, 0) + 1
        self._seal_failures[batch.id] = failures
        log.exception("sealing failed", extra={
            "batch_id": batch.id, "institution": batch.institution, "attempt": failures,
            "attempts": SEAL_ATTEMPTS})
        if failures < SEAL_ATTEMPTS:
            return
        # The sender reads the reason: the error's type only (its text may name paths).
        reason = (f"the batch could not be prepared for Canvas ({type(error).__name__}); "
                  "the gateway's operators were alerted: they fix the cause, then release "
                  f"the queue (`gateway release {batch.institution}`)")
        with self._store.transaction() as txn:
            txn.move("batch", batch.id, BatchState.OPEN, BatchState.HELD, reason=reason)
            txn.add_notice(BATCH_REPORT, batch.institution, batch.id,
                           batch_state=BatchState.HELD, reason=reason)
            txn.add_notice(NoticeKind.GATEWAY_ERROR, batch.institution, batch.id,
                           reason=f"batch {batch.id} held after {SEAL_ATTEMPTS} failed "
                                  f"seals: {type(error).__name__}: {error}")
        del self._seal_failures[batch.id]

    def _form(self, institution: Institution, *, first_only: bool = False) -> bool:
        """Validate, plan and record the institution's next delivery (with ``first_only``,
        just its oldest upload); False when none is complete yet.

        Validation runs outside the intake's lock; under it the delivery is read again and
        recorded only if it is the same uploads (compare-and-set): otherwise nothing is
        recorded and True is returned, so the next round looks again at once.
        """
        name = institution.name
        pending = self._next_delivery(name, first_only)
        if not pending:
            return False
        log.info("validating delivery", extra={"institution": name,
                                               "uploads": [u.id for u in pending]})
        verdicts = self._verdicts(institution, pending)
        with self._intake.forming(name):
            if self._next_delivery(name, first_only) != pending:
                log.info("delivery changed while it was validated; forming again",
                         extra={"institution": name})
                return True
            plans = plan_delivery(pending, verdicts, self._intake.refused(name),
                                  institution.sorting)
            self._record(name, plans, unchecked(pending, verdicts))
        return True

    def _next_delivery(self, institution: str, first_only: bool) -> list[UploadRecord]:
        pending = self._deliverable(institution)
        return pending[:1] if first_only else pending

    def _verdicts(self, institution: Institution, pending: list[UploadRecord]
                  ) -> dict[int, UploadVerdict]:
        """Every upload of ``pending`` validated with Canvas's rules (the long part)."""
        password = _password(institution)
        options = institution.sorting.validation()
        return {u.id: self._validate(u, password, options) for u in pending}

    def _validate(self, upload: UploadRecord, password: bytes | None,
                  options: ValidationOptions) -> UploadVerdict:
        with self._custody.local_path(upload_key(upload)) as path:
            return validate_upload(path, upload.filename, password=password, options=options)

    def _plan(self, institution: Institution, pending: list[UploadRecord]
              ) -> list[PlannedBatch]:
        """The batches ``pending`` forms (a dry run: nothing is recorded)."""
        return plan_delivery(pending, self._verdicts(institution, pending),
                             self._intake.refused(institution.name), institution.sorting)

    def _deliverable(self, institution: str) -> list[UploadRecord]:
        """The uploads forming the institution's next delivery now (none: wait longer).

        Runs after every received upload, so deciding to wait reads a bounded number of
        rows (the newest waiting upload, the first few), never all that wait; only a
        delivery being formed is read whole."""
        through = self._intake.released_through(institution)
        if through is not None:  # trigger files: the sender says when a delivery is complete
            return self._store.waiting(institution, through=through)
        if self._intake.uploads_open(institution):  # a file still arriving belongs with these
            return []
        newest = self._store.waiting(institution, newest=True, limit=1)
        if is_quiet(newest, self._store.clock(), self._quiet_seconds):
            return self._store.waiting(institution)
        # A zip is a complete delivery by itself: no need to wait, as long as it is next.
        if not _is_zip(self._store.waiting(institution, limit=1)):
            return []
        leading = []
        for upload in self._store.waiting(institution, limit=LEADING_ZIPS):
            if not _is_zip([upload]):
                break
            leading.append(upload)
        return leading

    def _record(self, institution: str, plans: list[PlannedBatch],
                unchecked: Mapping[int, str]) -> None:
        """Create the planned batches in one transaction; ops hear of each upload the checks
        failed on; the first batch's reports name the files the intake dropped since the
        last report.  Logged and counted only once committed."""
        formed = []
        with self._store.transaction() as txn:
            for number, plan in enumerate(plans):
                batch_id = record_plan(txn, institution, plan, unchecked)
                if number == 0:
                    txn.claim_discards(institution, batch_id)
                formed.append((batch_id, plan))
        for batch_id, plan in formed:
            announce(institution, batch_id, plan)

    def _seal(self, batch: BatchRecord, institution: Institution | None) -> None:
        members = self._store.uploads(batch_id=batch.id)
        accepted = [u for u in members if u.state is UploadState.ACCEPTED]
        if accepted:
            self._build_zip(batch.id, accepted, _password(institution))
        with self._store.transaction() as txn:
            if accepted:
                # Sealed: progress, so earlier crashes while forming no longer count.
                txn.move("batch", batch.id, BatchState.OPEN, BatchState.READY, recoveries=0)
                txn.add_notice(BATCH_RECEIPT, batch.institution, batch.id,
                               batch_state=BatchState.READY)
            else:
                reason = "no file in this delivery can be imported"
                txn.move("batch", batch.id, BatchState.OPEN, BatchState.REJECTED,
                         reason=reason, finished_at=txn.now)
                txn.add_notice(BATCH_REPORT, batch.institution, batch.id,
                               batch_state=BatchState.REJECTED, reason=reason)

    def _build_zip(self, batch_id: int, accepted: list[UploadRecord],
                   password: bytes | None) -> None:
        key = PayloadKey.batch_zip(batch_id)
        # Replacing: a zip left by a crash mid-seal is rebuilt to the same bytes.
        with ExitStack() as held, self._custody.scratch(key) as temp:
            paths = {u.id: held.enter_context(self._custody.local_path(upload_key(u)))
                     for u in accepted}
            write_batch_zip(self._members(batch_id, accepted, password, paths), temp)
            self._custody.put(key, temp, replace=True)

    def _members(self, batch_id: int, accepted: list[UploadRecord], password: bytes | None,
                 paths: Mapping[int, Path]) -> list[tuple[str, list[Source]]]:
        """What goes into the zip: each zip's CSV members (decrypted: Canvas cannot open AES
        zips), and the CSVs, those of one kind merged under the first one's name.  Members
        are named for the batch's first POST attempt (see gateway.sorting.identity)."""
        items: list[list[tuple[str, Source]]] = []
        by_kind: dict[str, list[tuple[str, Source]]] = {}
        for upload in accepted:
            path = paths[upload.id]
            if upload.kind == ZIP_KIND:
                items += [[(member, member_opener(path, member, password))]
                          for member in csv_member_names(path)]
            elif upload.kind in by_kind:
                by_kind[upload.kind].append((upload.filename, path_source(path)))
            else:
                by_kind[str(upload.kind)] = [(upload.filename, path_source(path))]
                items.append(by_kind[str(upload.kind)])
        entries = [entry for item in items for entry in _merged(item)]
        names = prefixed_names([name for name, _ in entries], attempt_prefix(batch_id, 1))
        return [(name, sources) for name, (_, sources) in zip(names, entries, strict=True)]


def _merged(files: list[tuple[str, Source]]) -> list[tuple[str, list[Source]]]:
    """One member for files of one kind, unless Canvas would read their merged header as
    another kind (extra columns can turn courses into terms): then each file on its own."""
    sources = [source for _, source in files]
    if len(files) > 1:
        kinds = {identify(union_header([source])) for source in sources}
        if kinds != {identify(union_header(sources))}:
            return [(name, [source]) for name, source in files]
    return [(files[0][0], sources)]


def _is_zip(uploads: list[UploadRecord]) -> bool:
    """True when the first of ``uploads`` is named as a zip."""
    return bool(uploads) and uploads[0].filename.lower().endswith(".zip")


def _password(institution: Institution | None) -> bytes | None:
    if institution is None or institution.zip_password is None:
        return None
    return institution.zip_password.get_secret_value().encode()

