"""Atomic directory replacement on a local POSIX file system.

Linux's `renameat2(RENAME_EXCHANGE)` swaps two directories in one step: a reader listing the
target sees the old files or the new ones, never a mix and never an empty folder. Where the
kernel or file system lacks it we fall back to two renames, which leaves a window of a few
microseconds in which the partition folder is absent (never half-written).
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

_AT_FDCWD = -100
_RENAME_EXCHANGE = 1 << 1

_renameat2 = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _renameat2 = _libc.renameat2
        _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
        _renameat2.argtypes += [ctypes.c_uint]
        _renameat2.restype = ctypes.c_int
    except (OSError, AttributeError):
        _renameat2 = None


def exchange(first: str, second: str) -> bool:
    """Swap two existing directories atomically; False when this system cannot."""
    if _renameat2 is None:
        return False
    result = _renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"renameat2 exchange failed: {os.strerror(code)}", first, None, second)


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_tree(folder: str) -> None:
    """Flush a staged folder's files and entries to disk before it is swapped in, so a crash
    of the machine (not only of the process) cannot publish files whose data never landed."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            _fsync(path)
    _fsync(folder)


def replace_dir(staging: str, target: str, old_holder: str) -> None:
    """Put `staging` at `target`; whatever was at `target` ends up at `old_holder`.

    `old_holder` must not exist; the caller deletes it afterwards.
    """
    sync_tree(staging)
    try:
        _replace(staging, target, old_holder)
    finally:
        if os.path.isdir(os.path.dirname(target)):
            _fsync(os.path.dirname(target))


def _replace(staging: str, target: str, old_holder: str) -> None:
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.rename(staging, target)
            return
        except OSError as error:
            # Another writer created the target meanwhile: swap with it below.
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if exchange(staging, target):
        os.rename(staging, old_holder)
        return
    os.rename(target, old_holder)
    os.rename(staging, target)
