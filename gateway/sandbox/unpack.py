"""Canvas's `ImportRefactored#prepare`: unpack the upload, keep its files, sniff each CSV.

Pure: bytes in, a `Prepared` out.  What Canvas does, file by file:

- a `.zip` upload is extracted; every file except directories, `__MACOSX`, `desktop.db/df`
  and dotfiles (Ruby's `Dir["**/**"]` does not list hidden entries) becomes an attachment
  named by its base name, unless it is empty (`create_batch_attachment`);
- a `.csv` upload is used as it is: the uploaded attachment itself is the CSV's attachment;
- each `.csv` is checked for UTF-8, then its first row is read: a header Canvas knows lists
  the file's attachment in `data.downloadable_attachment_ids` (a users header with
  `password` / `ssha_password` lists a `<name>_filtered.csv` copy without those columns
  instead); an unknown header fails the file; other members warn `Skipping unknown file type`;
- the recognised files are then read whole (`count_rows`): a file that turns out malformed
  after its first row fails with `Malformed CSV` there, but stays listed.

Row numbers follow Canvas: the header is row 1, blank lines are not counted.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

from gateway.sandbox.errorfile import SisError, row_text
from gateway.sorting.kinds import KIND_RULES, SisKind, identify
from gateway.sorting.validation.rubycsv import (
    MalformedCsvError,
    detect_row_separator,
    parse_rows,
)

# Canvas's IGNORE_FILES, applied to the extracted path; dotfiles never reach it because
# Ruby's `Dir["**/**"]` does not list hidden entries, so they are skipped here explicitly.
_IGNORED_MEMBER = re.compile(r"__macosx|desktop d[bf]", re.IGNORECASE)
_MAX_EXPANSION = 100  # uncompressed size may not exceed 100x the zip (§1.2)
_INLINE_ROW_LIMIT = 50  # sis_batch_parallelism_count_threshold
PASSWORD_COLUMNS = ("password", "ssha_password")  # HEADERS_TO_EXCLUDE_FOR_DOWNLOAD

INVALID_UTF8 = "Invalid UTF-8"
MALFORMED = "Malformed CSV"
NO_HEADERS = "Couldn't find Canvas CSV import headers"
UNKNOWN_TYPE = "Skipping unknown file type"


class ZipExpansionError(ValueError):
    """The zip would expand beyond Canvas's limit."""


@dataclass(frozen=True)
class BatchFile:
    """A file Canvas keeps as an attachment of the batch, in creation order.

    `listed`: its id goes into `data.downloadable_attachment_ids` (a csv_attachment).
    `is_upload`: it is the uploaded attachment itself (a `.csv` upload), not a new one.
    """

    name: str
    content: bytes = field(repr=False)
    listed: bool = False
    is_upload: bool = False


@dataclass(frozen=True)
class SisCsv:
    """One recognised CSV: its name in the upload, its kind, header and data rows."""

    name: str
    kind: SisKind
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Prepared:
    """What `prepare` left: the batch's files, the importable CSVs and the problems so far
    (sniffing problems first, then the `Malformed CSV` failures of the row count)."""

    files: tuple[BatchFile, ...] = ()
    csvs: tuple[SisCsv, ...] = ()
    problems: tuple[SisError, ...] = ()

    @property
    def total_rows(self) -> int:
        """Canvas's `@total_rows`: 1 plus every data row of the importable CSVs."""
        return 1 + sum(len(csv.rows) for csv in self.csvs)

    @property
    def running_immediately(self) -> bool:
        """Small imports run inline: `@total_rows <= 50`, so at most 49 data rows."""
        return self.total_rows <= _INLINE_ROW_LIMIT


@dataclass
class _Collector:
    files: list[BatchFile] = field(default_factory=list)
    csvs: list[SisCsv] = field(default_factory=list)
    sniffed: list[SisError] = field(default_factory=list)
    counted: list[tuple[SisKind, SisError]] = field(default_factory=list)

    def prepared(self) -> Prepared:
        order = [rule.kind for rule in KIND_RULES]  # Canvas's importer order
        counted = sorted(self.counted, key=lambda item: order.index(item[0]))
        problems = (*self.sniffed, *(problem for _, problem in counted))
        return Prepared(tuple(self.files), tuple(self.csvs), problems)


def prepare(filename: str, payload: bytes) -> Prepared:
    """Unpack and sniff an upload.  Raises zipfile.BadZipFile, ZipExpansionError or another
    exception when the upload cannot be unpacked (Canvas's `fail_with_error!`)."""
    collector = _Collector()
    lowered = filename.lower()
    if lowered.endswith(".zip"):
        for name, data in _zip_members(payload):
            _member(name, data, collector)
    elif lowered.endswith(".csv"):
        _sniff(filename, payload, collector, None)
    return collector.prepared()


def _skipped_member(name: str) -> bool:
    parts = name.split("/")
    return any(part.startswith(".") for part in parts) or bool(_IGNORED_MEMBER.search(name))


def _zip_members(payload: bytes) -> list[tuple[str, bytes]]:
    """(path, bytes) of every extracted file Canvas looks at, in path order."""
    members: list[tuple[str, bytes]] = []
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        infos = sorted(archive.infolist(), key=lambda info: info.filename)
        if sum(info.file_size for info in infos) > _MAX_EXPANSION * len(payload):
            raise ZipExpansionError("zip expands beyond 100 times its size")
        for info in infos:
            if info.is_dir() or _skipped_member(info.filename):
                continue
            members.append((info.filename, archive.read(info)))
    return members


def _member(path: str, data: bytes, collector: _Collector) -> None:
    """One extracted file: its attachment (when not empty), then `process_file`."""
    attachment = None
    if data:
        attachment = len(collector.files)
        collector.files.append(BatchFile(path.rsplit("/", 1)[-1], data))
    if path.lower().endswith(".csv"):
        _sniff(path, data, collector, attachment)
    else:
        collector.sniffed.append(SisError(path, UNKNOWN_TYPE))


def _sniff(name: str, data: bytes, collector: _Collector, attachment: int | None) -> None:
    """Canvas's `process_file` and `count_rows` for one CSV; `attachment` is the index of
    its attachment in `collector.files` (None: the upload itself is the CSV)."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        collector.sniffed.append(SisError(name, INVALID_UTF8, failure=True))
        return
    rows, malformed = _read(text)
    if not rows:
        if malformed:
            collector.sniffed.append(SisError(name, MALFORMED, failure=True))
        return  # empty (or only blank lines): ignored silently, like Canvas
    header = tuple(cell.strip().lower() for cell in rows[0])
    kind = identify(header)
    if kind is None:
        collector.sniffed.append(SisError(name, NO_HEADERS, failure=True))
        return
    _list(collector, name, data, kind=kind, header=header, rows=rows, attachment=attachment)
    if malformed:
        collector.counted.append((kind, SisError(name, MALFORMED, failure=True)))
        return
    collector.csvs.append(SisCsv(name, kind, header, tuple(tuple(row) for row in rows[1:])))


def _read(text: str) -> tuple[list[list[str]], bool]:
    """The rows Ruby reads before any quoting error, and whether there was one."""
    try:
        return parse_rows(text), False
    except MalformedCsvError as error:
        separator = detect_row_separator(text)
        before = separator.join(text.split(separator)[: max(error.line - 1, 0)])
        try:
            return parse_rows(before), True
        except MalformedCsvError:
            return [], True


def _list(
    collector: _Collector,
    name: str,
    data: bytes,
    *,
    kind: SisKind,
    header: tuple[str, ...],
    rows: list[list[str]],
    attachment: int | None,
) -> None:
    """List the file's attachment, or a filtered copy of a users file with passwords."""
    if kind is SisKind.USER and any(column in header for column in PASSWORD_COLUMNS):
        filtered = BatchFile(_filtered_name(name), filtered_csv(header, rows), listed=True)
        collector.files.append(filtered)
    elif attachment is None:
        collector.files.append(BatchFile(name, data, listed=True, is_upload=True))
    else:
        kept = collector.files[attachment]
        collector.files[attachment] = BatchFile(kept.name, kept.content, listed=True)


def _filtered_name(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return re.sub(r"\.csv\Z", "_filtered.csv", base, flags=re.IGNORECASE)


def filtered_csv(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    """`create_filtered_csv`: the header without the password columns, then every row
    (values stripped, blank as empty) without its first `password` / `ssha_password`
    field, written by Ruby's CSV (LF line ends)."""
    kept_header = tuple(column for column in header if column not in PASSWORD_COLUMNS)
    drop = sorted({header.index(column) for column in PASSWORD_COLUMNS if column in header})
    lines = [row_text(kept_header)]
    for cells in rows[1:]:
        values = [cell.strip() for cell in cells]
        lines.append(row_text(tuple(v for i, v in enumerate(values) if i not in drop)))
    return "".join(lines).encode("utf-8")
