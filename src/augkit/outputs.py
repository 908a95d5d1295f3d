"""Output folders: which ones augkit may replace, one writer per output at a time, and how a
finished folder is swapped in.

- ``check_output`` refuses places no command should write to (``.``, ``..``, the home folder,
  a filesystem root), an output that is a file, and, with ``--overwrite``, any non-empty folder
  that augkit did not write (the caller says what "written by augkit" means for its command).
- ``OutputLock`` is an advisory ``flock`` on a small file beside the output
  (``.NAME.augkit-lock``) holding the pid and host of the writer, so a second run is refused
  with a line naming the first. The kernel drops the lock when a process dies, so a killed run
  never blocks the next one. Where the filesystem has no ``flock`` the file is created
  exclusively instead, and a leftover from a dead process on this host is taken over.
- ``replace_output`` moves a finished staging folder into place; ``.augkit.json`` (the marker)
  lists what augkit wrote there, which is what a later ``--overwrite`` checks.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from augkit.errors import UsageError

MARKER = ".augkit.json"
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def absolute(path: str | Path) -> Path:
    """``path`` made absolute without following a link in its last part: ``.`` and ``..``
    become real folder names (``Path('.').name`` is empty, which would misname the staging)."""
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    return path if path.parent == path else path.parent.resolve() / path.name


def _protected_reason(path: Path) -> str | None:
    real = path.resolve()
    if real.parent == real or os.path.ismount(real):
        return "it is a filesystem root"
    places = []
    try:
        places.append((Path.cwd().resolve(), "the current folder"))
    except OSError:
        pass
    try:
        places.append((Path.home().resolve(), "your home folder"))
    except (RuntimeError, KeyError, OSError):
        pass
    for place, name in places:
        if real == place:
            return f"it is {name}"
        if real in place.parents:
            return f"it holds {name}"
    return None


def check_output(out_dir: Path, overwrite: bool, *, foreign: Callable[[Path], list[str] | None],
                 option: str = "--out", replaces: bool = True) -> None:
    """Refuse an output augkit must not write to, or (``replaces``) must not replace.

    ``foreign(out_dir)`` returns the entries of an existing folder that augkit did not write
    there, or None when the folder is not one of augkit's outputs at all.
    """
    reason = _protected_reason(out_dir)
    if reason is not None:
        raise UsageError(f"{out_dir}: refusing to use this folder as {option}: {reason}, and augkit "
                         f"replaces its output folder as a whole. Fix: give a new folder such as "
                         f"{out_dir / 'augkit-out'}.")
    if out_dir.is_symlink():
        raise UsageError(f"{out_dir}: {option} is a symbolic link; augkit will not replace a link or "
                         "write through it. Fix: give the real folder or a new name.")
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: {option} is a file, not a folder; augkit never replaces a file. "
                         "Fix: choose a folder name.")
    if not replaces:
        return
    entries = sorted(p.name for p in out_dir.iterdir())
    if not entries:
        return
    if not overwrite:
        raise UsageError(f"{out_dir}: the output folder exists and is not empty; choose a new {option} "
                         "or pass --overwrite to replace it (only a folder augkit wrote is replaced).")
    extra = foreign(out_dir)
    if extra is None:
        raise UsageError(f"{out_dir}: --overwrite replaces only a folder augkit wrote (or an empty "
                         f"one), and this one holds {_names(entries)} without augkit's marker. Fix: "
                         f"choose another {option}, or empty the folder yourself.")
    if extra:
        raise UsageError(f"{out_dir}: augkit wrote this folder but it also holds {_names(extra)}, "
                         f"which --overwrite would delete. Fix: move them away or choose another {option}.")
    unwritable = _unwritable_folders(out_dir)
    if unwritable:
        raise UsageError(f"{unwritable[0]}: read-only (permission denied), so --overwrite cannot "
                         f"delete the old output. Fix: chmod -R u+w {out_dir}, or choose another {option}.")


def refuse_unsafe_output(out_dir: str | Path, option: str = "--out") -> None:
    """For commands that add files to a folder without deleting any (generate, evaluate): no
    ``.``, ``..``, home folder, filesystem root, file or link as the output."""
    check_output(absolute(out_dir), False, foreign=lambda _: None, option=option, replaces=False)


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)} entr{'y' if len(names) == 1 else 'ies'} ({shown}{more})"


def _unwritable_folders(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included) whose entries this process cannot delete.
    ``os.access`` also says no on a read-only filesystem, for root too."""
    bad = [] if os.access(root.parent, os.W_OK | os.X_OK) else [root.parent]
    for dirpath, _, _ in os.walk(root):
        if not os.access(dirpath, os.W_OK | os.X_OK):
            bad.append(Path(dirpath))
    return bad


def check_writable_parent(out_dir: Path, option: str = "--out", *, create: bool = False) -> None:
    """Staging, lock and the final rename all happen in the output's parent: its nearest
    existing folder must be writable. With ``create`` the missing folders are made (only once
    the run is about to write, so a refused run leaves no empty folders)."""
    parent = out_dir.parent
    existing = parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{existing}: cannot write here (permission denied), and {option} {out_dir} "
                         "needs to. Fix: choose a folder you can write to.")
    if create:
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise permission_error(exc, option) if is_permission_error(exc) else exc


def is_permission_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _PERMISSION_ERRNOS


def permission_error(exc: OSError, option: str = "--out") -> UsageError:
    """One line for an OSError met while writing an output."""
    where = exc.filename or "the output"
    what = os.strerror(exc.errno) if exc.errno else str(exc)
    return UsageError(f"{where}: cannot write ({what}). Fix: make the folder writable or choose another "
                      f"{option} in a folder you can write to.")


# ---- the marker -----------------------------------------------------------------------------

def marker_bytes(written_by: str, entries: Iterable[str], **fields: Any) -> bytes:
    """The marker's content: deterministic (no time, pid or path of the output), so two runs
    with the same settings give byte-identical folders."""
    body = {"written_by": written_by, **fields, "entries": sorted(set(entries) - {MARKER})}
    return (json.dumps(body, indent=1, sort_keys=True, default=str) + "\n").encode()


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        body = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(body, dict) and isinstance(body.get("entries"), list) and \
        str(body.get("written_by", "")).startswith("augkit")
    return body if ok else None


def foreign_by_marker(folder: Path) -> list[str] | None:
    """Entries not listed in the marker; None without a marker."""
    marker = read_marker(folder)
    if marker is None:
        return None
    allowed = set(marker["entries"]) | {MARKER}
    return sorted(p.name for p in folder.iterdir() if p.name not in allowed)


# ---- swapping a finished folder in ----------------------------------------------------------

def replace_output(stage: Path, out_dir: Path, *, scratch: str | None = None) -> None:
    """Move the finished ``stage`` to ``out_dir``. ``stage/scratch`` (the run's bookkeeping) is
    moved beside first and only deleted once the swap has worked, so a failed swap leaves the
    staging resumable. An old output is renamed aside (one atomic step, nothing deleted yet),
    the new one renamed in, then the old one deleted."""
    kept = None
    if scratch is not None and (stage / scratch).exists():
        kept = out_dir.parent / f".{out_dir.name}.augkit-state"
        if kept.exists():
            shutil.rmtree(kept)  # an earlier run died mid-swap
        os.replace(stage / scratch, kept)
    old = None
    try:
        if out_dir.exists() or out_dir.is_symlink():
            old = out_dir.parent / f".{out_dir.name}.augkit-old"
            if old.exists():
                shutil.rmtree(old)  # an earlier run died between its two renames
            os.replace(out_dir, old)
        try:
            os.replace(stage, out_dir)
        except BaseException:
            if old is not None:
                os.replace(old, out_dir)
            raise
    except BaseException:
        if kept is not None:
            os.replace(kept, stage / scratch)
        raise
    if kept is not None:
        shutil.rmtree(kept)
    if old is not None:
        shutil.rmtree(old)


# ---- the lock -------------------------------------------------------------------------------

def lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.augkit-lock"


class OutputLock:
    """One writer per output: an exclusive, non-blocking lock, refused in one line that names
    the holder. A context manager; the lock file is removed on release."""

    def __init__(self, out_dir: Path, *, command: str = "augkit", option: str = "--out",
                 if_writable: bool = False):
        self.out_dir = out_dir
        self.path = lock_path(out_dir)
        self.command = command
        self.option = option
        self.if_writable = if_writable  # a folder only read (merge's parts): no lock where none can be taken
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        for _ in range(50):  # another process may unlink the file between our open and lock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                if self.if_writable and is_permission_error(exc):
                    return  # nobody without write access here can be writing the folder either
                raise permission_error(exc, self.option) if is_permission_error(exc) else exc
            try:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (ImportError, OSError) as exc:
                os.close(fd)
                if isinstance(exc, OSError) and exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise self._refusal() from None
                return self._acquire_exclusive_file()  # no flock on this filesystem
            if _same_file(fd, self.path):
                self._fd = fd
                self._write_holder(fd)
                return
            os.close(fd)  # we locked a file its previous holder had just removed; try again
        raise UsageError(f"{self.path}: could not take the output lock; try again.")

    def _acquire_exclusive_file(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder and holder.get("host") == socket.gethostname() and not _alive(holder.get("pid")):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise self._refusal() from None
            except OSError as exc:
                raise permission_error(exc, self.option) if is_permission_error(exc) else exc
            self._fd = fd
            self._write_holder(fd)
            return
        raise self._refusal()

    def _write_holder(self, fd: int) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)

    def holder(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _refusal(self) -> UsageError:
        h = self.holder()
        for _ in range(20):  # the holder writes its pid just after taking the lock
            if h:
                break
            time.sleep(0.05)
            h = self.holder()
        h = h or {}
        who = f"pid {h.get('pid', '?')} on {h.get('host', '?')}, since {h.get('since', '?')}" if h else "unknown process"
        hint = "; to run shards in parallel give each its own --out and join them with " \
            "`augkit merge`" if self.command == "expand" else ""
        return UsageError(f"{self.out_dir}: another augkit run is writing this output ({who}; lock "
                          f"{self.path}). Wait for it to finish or stop it{hint}.")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still held, so no one locks a removed file
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
