"""The supervisor's own files on the host: what the CLI reads into a box and writes out of it.  Side: parent.

Every one is found through hostpaths (one walk, by descriptor, no symlink that someone
else could have made), before the first box starts, and held open: a box that writes
where the caller also reads or writes (a --bind-rw directory) can plant a symlink or a
FIFO there while it runs, so nothing is looked up by name after a box started.

- Read: --file sources (streamed into the box, never read into our memory, and refused
  early if they cannot fit in its work dir), --stdin.  Regular files and devices, or one of
  the caller's own descriptors (/dev/stdin, <(...)); opened without blocking.
- Written: --stdout/--stderr (opened and emptied before the run), --result (replaced
  atomically after the run: a temp file renamed over the name, so whatever the box left at
  that name is replaced, never written through), collected files (beneath --collect-dir,
  one component at a time).  Regular files of the caller's and devices, or the caller's own
  descriptors (shared, not opened anew); no symlink is followed on the way but in root's
  directories, a FIFO is refused without waiting for a reader.

Man pages: openat(2) (O_NOFOLLOW), renameat(2), sendfile(2), fifo(7).
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from typing import Optional

from ..errors import UsageError
from ..hostpaths import WRITTEN, Found, HostPaths, PathError, resolve
from ..streams import write_all
from .packing import FileEntry, FileSource, check_name

_WRITE = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY


def file_entry(spec: str) -> FileEntry:
    """--file SRC[:NAME] -> (NAME, SRC's mode, SRC held open); NAME defaults to SRC's basename."""
    source, _, name = spec.partition(":")
    if not source:
        raise UsageError(f"--file {spec!r}: expected SRC[:NAME]")
    found = _input(source, "--file")
    if not stat.S_ISREG(found.info.st_mode):
        os.close(found.fd)
        raise UsageError(f"--file {source}: not a regular file")
    return name or os.path.basename(found.path), found.info.st_mode & 0o777, FileSource(found.fd, found.info.st_size)


def open_input(path: str, what: str) -> int:
    """A file the program reads as its stdin: a regular file, a device, or one of the caller's own
    descriptors; never a FIFO found in a directory (one a box planted would feed it)."""
    found = _input(path, what)
    kind = stat.S_IFMT(found.info.st_mode)
    if kind not in (stat.S_IFREG, stat.S_IFCHR) and not found.own:
        os.close(found.fd)
        raise UsageError(f"{what} {path}: not a regular file")
    _blocking(found)
    return found.fd


def _input(path: str, what: str) -> Found:
    return resolve(path, what, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)  # a FIFO must not block us


def open_output(path: str, what: str) -> int:
    """A file the program's output goes to, created or emptied now (or the caller's own descriptor,
    /dev/stdout, shared as it is)."""
    found = resolve(path, what, _WRITE | os.O_CREAT, last=WRITTEN)
    fd = _writable(found, path, what)
    if not found.own and stat.S_ISREG(found.info.st_mode):
        os.ftruncate(fd, 0)
    return fd


def _writable(found: Found, path: str, what: str) -> int:
    """A regular file of the caller's or a device, or the caller's own descriptor; never a file of
    another user's that happens to be writable (as in a sticky /tmp: they would read it later)."""
    kind = stat.S_IFMT(found.info.st_mode)
    problem = None
    if not found.own and kind not in (stat.S_IFREG, stat.S_IFCHR):
        problem = "not a regular file"
    elif not found.own and kind == stat.S_IFREG and found.info.st_uid != os.geteuid():
        problem = "a file of another user's: not written to (they could read it)"
    if problem:
        os.close(found.fd)
        raise UsageError(f"{what} {path}: {problem}")
    _blocking(found)
    return found.fd


def _blocking(found: Found) -> None:
    """Opened without waiting (a FIFO with no peer); used as an ordinary descriptor from here on.
    The caller's own descriptor is left as it is: its flags belong to the open file it shares."""
    if not found.own:
        fcntl.fcntl(found.fd, fcntl.F_SETFL, fcntl.fcntl(found.fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)


def _umask() -> int:
    """This process's umask, read without changing it (os.umask sets it to read it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


class ResultFile:
    """Where --result goes, found before the run and written after it.

    A regular file (or a name not there yet) is replaced atomically: the document goes into a
    temp file (with the old file's mode) in the directory held open since before the run, which
    is then renamed over the name; a symlink, a FIFO or a forged document the box left there is
    replaced, never written through.  Afterwards the directory must still be the one at its
    path (a box that can write its parent could have moved it and put a forged one in its
    place).  A device or the caller's own descriptor (/dev/stderr) is written directly.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._stream: Optional[int] = None
        self._mode = 0o644
        self._paths = HostPaths()
        try:
            self._find_stream()
            if self._stream is None:
                self._directory, self._name = self._paths.parent(path, "--result", last=WRITTEN)
        except BaseException:
            self.close()
            raise

    def _find_stream(self) -> None:
        try:
            found = resolve(self.path, "--result", os.O_PATH, last=WRITTEN)
        except PathError as e:
            if e.fields.get("errno") != errno.ENOENT:
                raise
            return
        kind = stat.S_IFMT(found.info.st_mode)
        try:
            if found.own:
                self._stream = os.dup(found.fd)
            elif kind == stat.S_IFCHR:
                self._stream = os.open(f"/proc/self/fd/{found.fd}", _WRITE | os.O_CLOEXEC)
                _blocking(Found(found.path, self._stream, found.info))
            elif kind != stat.S_IFREG:
                raise UsageError(f"--result {self.path}: not a regular file")
            elif found.info.st_uid == os.geteuid():
                self._mode = found.info.st_mode & 0o7777
        except OSError as e:
            raise UsageError(f"--result {self.path}: {e.strerror or e}") from None
        finally:
            os.close(found.fd)

    def write(self, text: str) -> None:
        data = text.encode()
        try:
            if self._stream is not None:
                write_all(self._stream, data)  # a reader gone (`| head`) takes it as a pipe's output
                return
            self._replace(data)
        except OSError as e:
            raise UsageError(f"--result {self.path}: cannot write it ({e.strerror or e}); what is at that name "
                             f"was not written by sandbox") from None
        self._check_still_there()

    def _replace(self, data: bytes) -> None:
        directory = self._directory.fd
        temporary = f".{self._name}.{os.urandom(6).hex()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=directory)
        try:
            write_all(fd, data)
            os.fchmod(fd, self._mode)
            os.replace(temporary, self._name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            os.unlink(temporary, dir_fd=directory)
            raise
        finally:
            os.close(fd)

    def _check_still_there(self) -> None:
        with HostPaths() as now:
            try:
                here, _ = now.parent(self.path, "--result", last=WRITTEN)
            except UsageError:
                here = None
            if here is None or here.identity != self._directory.identity:
                raise UsageError(f"--result {self.path}: its directory was moved or replaced while the box ran "
                                 f"(can the box write it?); the result went to the directory found before the run, "
                                 f"and what is at that name now was not written by sandbox")

    def close(self) -> None:
        if self._stream is not None:
            os.close(self._stream)
            self._stream = None
        self._paths.close()


class CollectDir:
    """--collect-dir, found and checked before any box runs and held open: collected files are
    written beneath this very directory, whatever a box did to its name meanwhile."""

    def __init__(self, path: str) -> None:
        self.path = path
        found = resolve(path, "--collect-dir", os.O_PATH | os.O_DIRECTORY, last=WRITTEN)
        self.fd = found.fd
        if not os.access(".", os.W_OK | os.X_OK, dir_fd=self.fd):
            self.close()
            raise UsageError(f"--collect-dir {path}: not writable")

    def write(self, name: str, content: bytes) -> None:
        """`name` beneath the directory; with the mode the file had in the box if it says
        (packing.CollectedFile), else 0644; either way less the umask."""
        write_beneath(self.fd, self.path, name, content, getattr(content, "mode", 0o644))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def write_beneath(directory_fd: int, shown: str, name: str, content: bytes, mode: int = 0o644) -> None:
    """Write name beneath the directory held by directory_fd, creating its parent directories; a
    symlink anywhere on the way, or a name with '..', is refused.  Its mode is `mode`'s permission
    bits less the umask, set on a file that was there too: a binary compiled in the box stays
    executable, while setuid, setgid and sticky bits never reach the host, nor (by the umask) bits
    for others that the caller does not give new files."""
    problem = check_name(name)
    if problem:
        raise UsageError(f"--collect {name!r}: {problem}")
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory_fd)
        try:
            *parents, last = name.split("/")
            for part in parents:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=fd)
                os.close(fd)
                fd = inner
            # O_NONBLOCK: a FIFO in the way is an error (ENXIO), not a wait for a reader; 0600 until
            # written, then its own mode (a private file is never readable by others meanwhile)
            out = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | nofollow, 0o600, dir_fd=fd)
        finally:
            os.close(fd)
        with os.fdopen(out, "wb") as f:
            info = os.fstat(out)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            if info.st_uid != os.geteuid():
                raise OSError(errno.EPERM, "a file of another user's: not written to")
            f.truncate(0)
            f.write(content)
            os.fchmod(out, mode & 0o777 & ~_umask())
    except OSError as e:
        reasons = {errno.ELOOP: "it is a symlink (not followed)",
                   errno.ENOTDIR: "a parent is a symlink (not followed) or not a directory"}
        why = reasons.get(e.errno or 0, e.strerror or str(e))
        raise UsageError(f"--collect-dir {shown}: writing {name}: {why}") from None
