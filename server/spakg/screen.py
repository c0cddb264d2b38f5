"""`spakg screen`: a cohort through ``cohort.screen_records`` on Dask — a local cluster by default, or an existing one —
written to Parquet (one row per patient: row, id, a column per rule, error), then summed up in a cohort report.

Parquet input is read by the workers themselves (``dask.dataframe.read_parquet``); JSON lines (patient records or FHIR
Bundles, one per line) are read here in chunks and sent to them; a directory of FHIR Bundle files (``*.json``) goes
out as chunks of file names, each worker reading its own files. Each worker loads the ontology once
(``worker_knowledge``)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

from .cohort import Layout, results_frame, screened, status_codes
from .columns import ColumnScreener
from .fhir.bulk import bucket_lines, bulk_files, screen_bucket
from .knowledge import Knowledge
from .worker_knowledge import worker_knowledge

CHUNK_LINES = 50_000
CHUNK_CHARS = 4_000_000  # a chunk of long lines (Bundles of ~5 KB) is cut here
CHUNK_FILES = 2_000  # FHIR Bundle files per task
BULK_BLOCK = 32 * 2**20  # bytes of NDJSON per task when Bulk Data is read
BULK_PART_ROWS = 100_000
_knowledge = worker_knowledge  # the ontology, loaded once per worker process


def _no_results(rules: list[str]):
    """An empty results frame (Dask's meta; an export with no lines)."""
    import numpy as np

    return results_frame(rules, [], [], np.zeros((0, len(rules)), np.int8), [])


def screen_partition(frame, ontology: str | None, offsets: list[int], partition_info=None):
    """One Parquet partition: its rows' records screened (the function every worker runs)."""
    k = _knowledge(ontology)
    number = partition_info["number"] if partition_info else 0
    first = offsets[number]
    if offsets[number + 1] - first != len(frame):
        raise RuntimeError(f"partition {number} has {len(frame)} rows, {offsets[number + 1] - first} expected")
    return _screener(k).frame(frame, first)


_SCREENERS: dict[int, ColumnScreener] = {}


def _screener(k: Knowledge) -> ColumnScreener:
    found = _SCREENERS.get(id(k))
    if found is None:
        found = _SCREENERS[id(k)] = ColumnScreener(k, Layout.of(k))
    return found


def screen_lines(lines: list[str], ontology: str | None, first: int, as_of: date | None = None):
    """One chunk of JSON lines (blank lines count as rows too, so row numbers are line numbers from 0)."""
    k = _knowledge(ontology)

    def records():
        for line in lines:
            try:
                yield orjson.loads(line)
            except ValueError as exc:
                from .errors import InvalidFacts

                yield InvalidFacts(f"line is not JSON: {exc}")

    return _records_frame(k, records(), first, as_of)


def _records_frame(k: Knowledge, records: Iterable, first: int, as_of: date | None):
    """``screen_records`` as a results frame, each rule a categorical column made from the codes (no strings)."""
    rows, ids, statuses, errors = screened(k, records, first, as_of)
    return results_frame([r.id for r in k.rules.order], rows, ids, status_codes(statuses, len(k.rules.order)), errors)


def screen_files(paths: list[str], ontology: str | None, first: int, as_of: date | None = None):
    """One chunk of a directory of FHIR Bundle files (row numbers follow the files' sorted order)."""
    k = _knowledge(ontology)

    def records():
        for path in paths:
            try:
                yield orjson.loads(Path(path).read_bytes())
            except (OSError, ValueError) as exc:
                from .errors import InvalidFacts

                yield InvalidFacts(f"{Path(path).name} is not a JSON file: {exc}")

    return _records_frame(k, records(), first, as_of)


def bundle_files(source: Path) -> list[Path]:
    """A directory's FHIR Bundle files (``*.json``, in natural order), or [] when it is a Parquet directory."""
    from dask.utils import natural_sort_key

    if not source.is_dir() or any(source.rglob("*.parquet")):
        return []
    return sorted(source.rglob("*.json"), key=lambda p: natural_sort_key(str(p)))


def cohort_input(source: Path) -> tuple[str, list[Path]]:
    """What a cohort path holds, with its files where there are several: "bulk" (a Bulk Data export's NDJSON), "lines"
    (JSON lines of records or Bundles), "bundles" (a directory of Bundle files) or "parquet"."""
    files = bundle_files(source)
    exported = [] if files else bulk_files(source)
    if exported:
        return "bulk", exported
    if source.suffix in (".jsonl", ".ndjson"):
        return "lines", []
    return ("bundles", files) if files else ("parquet", [])


def _parquet_offsets(source: Path) -> list[int]:
    """The first row of each row group, in the order Dask reads them (files in natural order, then row groups),
    from the files' metadata: no second pass over the data."""
    import pyarrow.parquet as pq
    from dask.utils import natural_sort_key

    files = [source] if source.is_file() else sorted(source.rglob("*.parquet"), key=lambda p: natural_sort_key(str(p)))
    offsets = [0]
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for i in range(meta.num_row_groups):
            offsets.append(offsets[-1] + meta.row_group(i).num_rows)
    return offsets


def output_schema(rules: list[str]):
    import pyarrow as pa

    status = pa.dictionary(pa.int8(), pa.string())
    return pa.schema([("row", pa.int64()), ("id", pa.string()), *((r, status) for r in rules), ("error", pa.string())])


@dataclass
class ScreenRun:
    patients: int
    seconds: float
    out: Path


def screen(source: Path, out: Path, ontology: str | None = None, workers: int = 2, scheduler: str | None = None,
           progress: bool = False, as_of: date | None = None) -> ScreenRun:
    import dask
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    k = _knowledge(ontology)
    rules = [r.id for r in k.rules.order]
    meta = _no_results(rules)
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        out.mkdir(parents=True, exist_ok=True)
        kind, files = cohort_input(source)
        if kind == "bulk":
            patients = _screen_bulk(files, out, ontology, as_of)
        elif kind == "lines":
            patients = _screen_chunks(client, _line_chunks(source), screen_lines, out, ontology, as_of)
        elif kind == "bundles":
            chunks = ([str(p) for p in files[i:i + CHUNK_FILES]] for i in range(0, len(files), CHUNK_FILES))
            patients = _screen_chunks(client, chunks, screen_files, out, ontology, as_of)
        else:
            frame = dd.read_parquet(str(source), split_row_groups=True, dtype_backend="numpy_nullable")
            offsets = _parquet_offsets(source)
            if len(offsets) != frame.npartitions + 1:  # not one partition per row group after all: count them
                offsets = [0]
                for n in frame.map_partitions(len).compute():
                    offsets.append(offsets[-1] + int(n))
            result = frame.map_partitions(screen_partition, ontology, offsets, meta=meta)
            with dask.config.set({"dataframe.convert-string": False}):
                result.to_parquet(str(out), write_index=False, overwrite=True, schema=output_schema(rules))
            patients = offsets[-1]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return ScreenRun(patients, time.perf_counter() - started, out)


def _screen_bulk(files: list[Path], out: Path, ontology: str | None, as_of: date | None) -> int:
    """FHIR Bulk Data NDJSON: lines regrouped by patient on the cluster (one hash shuffle: ``fhir.bulk``), each
    patient screened as a Bundle by the workers. There is no one input order, so rows are numbered in the order of
    the patients' ids (a row for lines that name no patient comes last): the results come back as compact frames (a
    category code per rule and patient) to be sorted and written here."""
    import dask
    import dask.bag as db
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rules = [r.id for r in _knowledge(ontology).rules.order]
    blocks = db.read_text([str(f) for f in files], blocksize=BULK_BLOCK, include_path=True).to_delayed()
    buckets = max(4, len(blocks))
    split = [dask.delayed(bucket_lines, nout=buckets)(block, buckets) for block in blocks]
    parts = dask.compute(*[dask.delayed(screen_bucket)([s[i] for s in split], ontology, as_of)
                           for i in range(buckets)])
    frame = pd.concat(parts, ignore_index=True) if parts else _no_results(rules)
    frame = frame.iloc[frame["id"].fillna("\uffff").argsort(kind="stable")].reset_index(drop=True)
    frame["row"] = range(len(frame))
    schema = output_schema(rules)
    for part, start in enumerate(range(0, max(len(frame), 1), BULK_PART_ROWS)):
        piece = frame.iloc[start:start + BULK_PART_ROWS]
        pq.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=False), out / f"part.{part}.parquet")
    return len(frame)


def _line_chunks(source: Path) -> Iterator[list[str]]:
    """Chunks of CHUNK_LINES lines, or fewer when the lines are long (FHIR Bundles): every worker gets work."""
    with source.open(encoding="utf-8") as lines:
        chunk: list[str] = []
        size = 0
        for line in lines:
            chunk.append(line)
            size += len(line)
            if len(chunk) == CHUNK_LINES or size >= CHUNK_CHARS:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk


def _screen_chunks(client, chunks: Iterable[list[str]], fn, out: Path, ontology: str | None, as_of: date | None,
                   window: int = 4) -> int:
    """Chunks (of lines, or of file names) go out as workers can take them (at most ``window`` in flight, so memory
    stays flat) and come back in order, each written as the next part file."""
    from collections import deque

    import pyarrow as pa
    import pyarrow.parquet as pq

    pending: deque = deque()
    written = 0
    schema = output_schema([r.id for r in _knowledge(ontology).rules.order])

    def write_oldest() -> None:
        nonlocal written
        future = pending.popleft()
        pq.write_table(pa.Table.from_pandas(future.result(), schema=schema, preserve_index=False),
                       out / f"part.{written}.parquet")
        future.release()
        written += 1

    first = 0
    for chunk in chunks:
        pending.append(client.submit(fn, chunk, ontology, first, as_of, pure=False))
        first += len(chunk)
        if len(pending) >= window:
            write_oldest()
    while pending:
        write_oldest()
    return first
