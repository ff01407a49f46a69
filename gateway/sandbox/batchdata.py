"""What a batch's `data` holds at each point Canvas saves it (§2.1).

- POST and `created`: only `import_type` (records.py renders that from the options);
- a parallel import (more than 49 data rows), once prepared (`ImportRefactored#process`:
  `@batch.save! unless @run_immediately`): `downloadable_attachment_ids`,
  `supplied_batches`, zero `counts` for every importer, `running_immediately: false`,
  `completed_importers: []` — so its csv_attachments show while it is `importing`;
- an inline import saves nothing until its end, so its csv_attachments first show at the
  terminal state;
- the end (`final_data`) depends on how processing ended (records.End):
  FINISHED   everything: ids, supplied, counts (+ error/warning), running_immediately,
             completed_importers, statistics;
  CRASHED    `fail_with_error!` saved the in-memory batch: the ids listed so far, counts
             with only error_count / warning_count, statistics;
  ABORTED,   the batch was reloaded from the database before `do_batch_end_work` (batch
  JOB_FAILED mode's `rescue SisBatch::Aborted; reload`, or a fresh load by the failed job's
             hook): what was saved (nothing for an inline import) plus error/warning counts
             and statistics;
  RESCUED    `process_without_send_later`'s rescue reloads too and adds `error_message` and
             `stack_trace`; no counts, no statistics.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.sandbox.processing import COUNT_KEYS
from gateway.sandbox.records import BatchData, End, Outcome
from gateway.sandbox.statistics import statistics_json


def prepared_data(listed: tuple[int, ...], outcome: Outcome) -> BatchData:
    """What a parallel import saves once it is prepared."""
    return BatchData(
        downloadable_attachment_ids=listed,
        supplied_batches=outcome.supplied_batches,
        counts=dict.fromkeys(COUNT_KEYS.values(), 0),
        running_immediately=False,
        completed_importers=(),
    )


def final_data(listed: tuple[int, ...], outcome: Outcome) -> BatchData:
    """`data` as saved when the import ends this way."""
    statistics = statistics_json(outcome.changes)
    messages = {key: outcome.counts.get(key, 0) for key in ("error_count", "warning_count")}
    full = BatchData(
        downloadable_attachment_ids=listed,
        supplied_batches=outcome.supplied_batches,
        counts=dict(outcome.counts),
        running_immediately=outcome.running_immediately,
        completed_importers=outcome.completed_importers,
        statistics=statistics,
    )
    if outcome.end is End.FINISHED:
        return full
    if outcome.end is End.CRASHED:
        return BatchData(downloadable_attachment_ids=listed, counts=messages, statistics=statistics)
    if outcome.end is End.RESCUED:
        saved = BatchData() if outcome.running_immediately else prepared_data(listed, outcome)
        message = outcome.error_message or ""
        return replace(saved, error_message=message, stack_trace=f"{message}\n(sandbox)")
    # ABORTED / JOB_FAILED: reloaded; an inline import had saved nothing of its own.
    if outcome.running_immediately:
        return BatchData(counts=messages, statistics=statistics)
    return full
