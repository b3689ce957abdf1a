"""Steps' scratch folders: private local working space for a step's intermediate files.

A step's sort files and DuckDB's spill live in `<scratch root>/_staging/<table path>/` (the lake's
own folder when it is local, `LAKEHOUSE_SCRATCH_DIR` when it is on object storage), each in a
folder `<label>.<pid>@<host>.<uuid hex>` named by its owner, so a dead owner's can be told from a
live one: the table's next scratch folder deletes those whose process is gone on this host, or
that nobody touched for a day (and vacuum those past its grace).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from lakehouse.storage import LakeStore
    from lakehouse.table_spec import TableSpec

#: Under the lake root (or the scratch folder of an object-storage lake): steps' scratch files
#: and DuckDB's spill. Lake tables themselves have no staging folder: uncommitted files are
#: invisible to Delta readers wherever they lie.
STAGING_DIR = "_staging"
#: A scratch folder left by a live process is only taken for abandoned after this long.
STALE_STAGING_SECONDS = 24 * 3600
#: This machine in the names of the scratch folders it creates: a process id means something
#: only on the host that issued it (pods sharing a scratch volume each count from 1).
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "localhost"
#: The end of a scratch folder a writer owns while it lives: `<label>.<pid>@<host>.<uuid hex>`.
HOLDER_NAME = re.compile(r"\.(?P<pid>[0-9]+)(@(?P<host>[A-Za-z0-9-]+))?\.[0-9a-f]{32}$")


def holder_name(label: str) -> str:
    """`<label>.<pid>@<host>.<uuid hex>`: a scratch folder its writer owns while it lives."""
    return f"{label}.{os.getpid()}@{HOST}.{uuid.uuid4().hex}"


def is_abandoned(folder_name: str, entries: Sequence) -> bool:
    """A folder whose writer died on this host, or (whoever wrote it) untouched for a day:
    another host's process cannot be asked whether it is alive."""
    owner = HOLDER_NAME.search(folder_name)
    if owner is None:
        return True
    if owner["host"] == HOST and not _process_alive(int(owner["pid"])):
        return True
    newest = max((entry.mtime_ns for entry in entries), default=0) / 1e9
    return newest > 0 and time.time() - newest > STALE_STAGING_SECONDS


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def scratch_folder(store: LakeStore, spec: TableSpec, label: str) -> Iterator[str]:
    """A private folder for a step's intermediate files of `spec`, deleted when done (and by
    the table's next scratch folder, or vacuum, if the process dies)."""
    fs = store.scratch_fs
    root = fs.path(STAGING_DIR, *spec.path)
    remove_abandoned(store, root)
    folder = posixpath.join(root, holder_name(f"scratch-{label}"))
    fs.makedirs(folder)
    try:
        yield folder
    finally:
        fs.delete_dir(folder)


def remove_abandoned(store: LakeStore, root: str) -> list[str]:
    """Delete the scratch folders under `root` left by steps that died."""
    fs = store.scratch_fs
    removed = []
    for folder in fs.subdirs(root):
        if is_abandoned(posixpath.basename(folder), fs.list_dir(folder)):
            fs.delete_dir(folder)
            removed.append(folder)
    return removed


def scratch_writer(store: LakeStore, path: str, schema: pa.Schema) -> pq.ParquetWriter:
    """A writer of a scratch Parquet file: read once and deleted, so LZ4 without statistics
    (several times faster to write than the lake's zstd)."""
    return pq.ParquetWriter(
        path,
        schema,
        filesystem=store.scratch_fs.filesystem,
        compression="lz4",
        write_statistics=False,
    )
