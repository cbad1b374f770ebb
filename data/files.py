"""Writing the toolkit's outputs: atomically, with the usual permissions, never over foreign files.

Every file and folder the toolkit writes goes through this module (it sits in ``data``, the
first package of the data -> models -> analysis -> reports flow, so that every package can
use it):

- :func:`atomic_write` writes a file under a temporary name beside it and renames it into
  place, so a reader sees the old file or the new one, never half of one;
- :func:`atomic_dir` builds a folder (a run directory, its ``checks/``) under a temporary
  name and renames it into place, so it is complete or absent. It puts the toolkit's
  marker file (:data:`MARKER`) in the folder: ``--force`` replaces only a folder holding it;
- files are created ``0666`` and folders ``0777`` less the umask (``0644`` and ``0755``
  with the usual umask 022), so a report can be read by whoever may read its folder;
- :func:`check_output_dir`, :func:`check_output_file` and :func:`check_input_file` check a
  location before any work and name the option in their message;
- :func:`write_csv` neutralises cells a spreadsheet would run as a formula.

A process killed mid-write (``kill -9``) leaves only a hidden ``.<name>.<pid>.*.tmp`` entry,
which no command reads as output; the next write of the same target removes those of dead
processes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

import pandas as pd

from .errors import AllianceLearningError

# The file that marks a folder as written by this toolkit (and so replaceable with --force).
MARKER = ".alliance-learning"
_MARKER_TEXT = ("This folder was written by alliance-learning; `--force` may replace it "
                "as a whole.\n")
# Folders no output may go to (kernel and device file systems).
_SYSTEM_DIRS = (Path("/proc"), Path("/sys"), Path("/dev"))
# Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class LocationError(AllianceLearningError, ValueError):
    """A file or folder location that cannot be used (named after its option)."""


class OutputExistsError(LocationError, FileExistsError):
    """The output exists already and may not be replaced (without ``--force``)."""


# -- permissions ------------------------------------------------------------------------------
def umask() -> int:
    """The process's umask (read without changing it for longer than a call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary_name(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}")


def _remove_stale(path: Path) -> None:
    """Remove temporary entries of ``path`` left by processes that no longer run."""
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            if not entry.name.startswith(prefix) or not entry.name.endswith((".tmp", ".old")):
                continue
            pid = entry.name[len(prefix):].split(".", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- writing ------------------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike, content: bytes | str, *, encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``path`` atomically (temporary file, then rename); return the path.

    The file gets the usual permissions (``0666`` less the umask); its folder must exist.
    """
    path = Path(path)
    data = content.encode(encoding) if isinstance(content, str) else content
    _remove_stale(path)
    tmp = _temporary_name(path, "tmp")
    try:
        # os.open applies the umask, unlike tempfile.mkstemp (always 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False,
               own_names: Collection[str] | None = ()) -> Iterator[Path]:
    """Build the folder ``path`` atomically: yield a staging folder, then rename it into place.

    The staging folder is created beside ``path`` (``0777`` less the umask) and gets the
    toolkit's :data:`MARKER`. When the ``with`` block ends without an error it replaces
    ``path``; on any error or interrupt it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The folder to create; its parent folders are created when missing.
    replace : bool
        Replace an existing ``path``. Callers check first that it is the toolkit's own
        (:func:`check_output_dir`); a folder that is not (see :func:`is_replaceable`) is
        refused here too.
    own_names : collection of str or None
        See :func:`is_replaceable`; None: any content (for a fixed sub-folder of a folder
        the toolkit owns, such as a run directory's ``checks/``).

    Raises
    ------
    OutputExistsError
        When ``path`` exists and ``replace`` is false or it is not the toolkit's folder.
    """
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    staging = _temporary_name(path, "tmp")
    os.mkdir(staging, 0o777)  # applies the umask, unlike tempfile.mkdtemp (always 0700)
    try:
        yield staging
        (staging / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
        if path.exists():
            if not replace:
                raise OutputExistsError(f"{path}: exists already")
            if own_names is not None and not is_replaceable(path, own_names):
                raise OutputExistsError(f"{path}: not a folder this toolkit wrote; not replaced")
            trash = _temporary_name(path, "old")
            os.replace(path, trash)
            os.replace(staging, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def is_toolkit_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder this toolkit wrote (it holds :data:`MARKER`)."""
    return (Path(path) / MARKER).is_file()


def is_replaceable(path: str | os.PathLike, own_names: Collection[str] = ()) -> bool:
    """Whether ``--force`` may replace the folder ``path``.

    It may when it holds the toolkit's :data:`MARKER`, or nothing but entries named in
    ``own_names`` (the files of a run directory written before the marker existed), or
    nothing at all.
    """
    path = Path(path)
    return is_toolkit_dir(path) or all(entry.name in own_names for entry in path.iterdir())


# -- CSV ----------------------------------------------------------------------------------------
def neutralise(value):
    """A cell safe to open in a spreadsheet: text starting with = + - @ tab or CR gets a ``'``.

    Numbers, and text that reads as a number (``-0.5``), are kept as they are.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def restore(value):
    """Undo :func:`neutralise` on a cell read back from a CSV the toolkit wrote."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, *, index: bool = False) -> Path:
    """Write a table as UTF-8 CSV, atomically, with formula-leading text cells neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or isinstance(safe[column].dtype, pd.StringDtype):
            safe[column] = safe[column].map(neutralise)
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    if index:
        safe.index = safe.index.map(lambda v: neutralise(v))
        safe.index.names = [neutralise(n) if isinstance(n, str) else n for n in safe.index.names]
    return atomic_write(path, safe.to_csv(index=index, lineterminator="\n"))


# -- checking a location before any work ---------------------------------------------------------
def _name(path: Path, option: str | None) -> str:
    return f"{option} {path}" if option else str(path)


def _check_writable_parent(target: Path, shown: str) -> None:
    """The nearest existing folder above ``target`` must be a writable folder."""
    for system in _SYSTEM_DIRS:
        if target == system or system in target.parents:
            raise LocationError(f"{shown}: {system} is a system folder; write the output elsewhere")
    ancestor = target.parent
    while not ancestor.exists():
        if ancestor == ancestor.parent:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise LocationError(f"{shown}: {ancestor} is a file, not a folder; choose another location")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise LocationError(f"{shown}: the folder {ancestor} is not writable; choose another location")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(path: str | os.PathLike, *, option: str | None = "--out", force: bool = False,
                     inputs: Iterable[str | os.PathLike | None] = (),
                     own_names: Collection[str] = ()) -> Path:
    """Check, before any work, that a folder may be created (or replaced) at ``path``.

    It may be created when its nearest existing parent is a writable folder (missing parents
    are created), and replaced only with ``force``, when it is the toolkit's own
    (:func:`is_replaceable`), when no input file lies inside it and when it is not the
    working folder or one above it.

    Parameters
    ----------
    path : str or path-like
    option : str, optional
        The option that named it (``"--out"``), for the message.
    force : bool
        Allow replacing a folder this toolkit wrote.
    inputs : iterable of paths
        Files the command reads (data, codebook, config); None entries are skipped.
    own_names : collection of str
        Entries a folder without the marker may hold and still be replaced
        (:func:`is_replaceable`).

    Returns
    -------
    Path
        ``path`` made absolute.

    Raises
    ------
    OutputExistsError
        When the folder exists and ``force`` is false.
    LocationError
        Any other reason, named in the message.
    """
    shown = _name(Path(path), option)
    if not str(path).strip():
        raise LocationError(f"{option or 'output'}: empty path; give the folder to create")
    target = Path(os.path.abspath(path))
    if target == target.parent:
        raise LocationError(f"{shown}: the root folder cannot be an output folder")
    _check_writable_parent(target, shown)
    if not target.exists():
        return target
    if not target.is_dir():
        raise LocationError(f"{shown}: exists and is a file, not a folder; choose another name")
    if not force:
        raise OutputExistsError(f"{shown}: the folder exists already; choose another {option or 'folder'} "
                                "or pass --force to replace a run directory")
    resolved = target.resolve()
    if _inside(Path.cwd().resolve(), resolved):
        raise LocationError(f"{shown}: is the working folder or one above it; --force will not "
                          "replace it; choose a new folder name")
    for source in inputs:
        if source is not None and _inside(Path(source).resolve(), resolved):
            raise LocationError(f"{shown}: holds the input file {source}; --force will not replace "
                              "the folder of a command's input; choose a new folder name")
    if not is_replaceable(target, own_names):
        raise LocationError(f"{shown}: --force replaces only a folder written by alliance-learning "
                          f"(it holds a {MARKER} file), and this folder holds other files; "
                          "choose a new folder name")
    return target


def check_output_file(path: str | os.PathLike, *, option: str | None = "--out", force: bool = False,
                      inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Check, before any work, that a file may be written (or replaced, with ``force``) at ``path``.

    Returns ``path`` made absolute; raises :class:`OutputExistsError` or :class:`LocationError`
    (see :func:`check_output_dir`).
    """
    shown = _name(Path(path), option)
    if not str(path).strip():
        raise LocationError(f"{option or 'output'}: empty path; give the file to write")
    target = Path(os.path.abspath(path))
    _check_writable_parent(target, shown)
    if target.is_dir():
        raise LocationError(f"{shown}: is a folder; give the name of the file to write")
    for source in inputs:
        if source is not None and Path(source).resolve() == target.resolve():
            raise LocationError(f"{shown}: is an input file of the command; choose another name")
    if target.exists() and not force:
        raise OutputExistsError(f"{shown}: exists already; pass --force to replace it")
    return target


def check_input_file(path: str | os.PathLike | None, *, option: str) -> None:
    """Check that an input option names an existing file (not a folder)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise LocationError(f"{option} {path}: is a folder; give the file")
    if not path.exists():
        raise FileNotFoundError(f"{option} {path}: file not found")


__all__ = ["MARKER", "LocationError", "OutputExistsError", "atomic_dir", "atomic_write",
           "check_input_file", "check_output_dir", "check_output_file", "is_replaceable", "is_toolkit_dir",
           "neutralise", "restore", "umask", "write_csv"]
