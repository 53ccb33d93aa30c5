"""Files only the owner may read: databases and records that hold personal or payment data."""

from __future__ import annotations

import os
from pathlib import Path

#: Read and write for the owner only.
PRIVATE_FILE_MODE = 0o600


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist yet; an existing file is left as
    it is (its owner chose its mode). Safe when several processes race to create it.

    For SQLite this is enough for its companions too: it creates ``-wal``, ``-shm`` and
    ``-journal`` files with the permissions of the database file, and an empty file is a valid
    empty database."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask (it could only take bits away)
    finally:
        os.close(fd)
