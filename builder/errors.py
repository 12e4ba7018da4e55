"""The one exception family of the tool, each kind with its exit code.

Tasks catch ``BuilderError`` once (see tasks.py) and turn it into a single
line on stderr and the exit code below; a traceback only with
``ARGOEXEC_BUILDER_DEBUG=1``.
"""

from __future__ import annotations

EXIT_TARGET_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOTHING_SELECTED = 3
EXIT_UNREACHABLE = 4
# Interrupted (Ctrl-C, SIGINT): 128 + the signal's number, what a shell reports for a process SIGINT ended.
EXIT_INTERRUPTED = 130
# Terminated (SIGTERM: a CI job cancelled or timed out, `docker stop`, a service manager): 128 + 15.
EXIT_TERMINATED = 143


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, which it stands beside
    """SIGTERM arrived: raised in the main thread by tasks.py's handler so that, as for Ctrl-C, every
    ``finally`` on the way out runs (temporary files removed, servers stopped) before the one-line exit."""


class BuilderError(Exception):
    """Base of every error the tool reports to a user."""

    exit_code = EXIT_TARGET_FAILED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TargetFailed(BuilderError):
    """One or more targets failed (a build or a check); the others went on."""

    exit_code = EXIT_TARGET_FAILED


class InputError(BuilderError):
    """Bad input from the user: an option, a value, a file."""

    exit_code = EXIT_BAD_INPUT


class MatrixError(InputError):
    """A problem in matrix.yaml, located as ``FILE:LINE: key.path: problem``."""

    def __init__(self, file: str, line: int | None, path: str, problem: str):
        location = f"{file}:{line}" if line else file
        prefix = f"{location}: {path}: " if path else f"{location}: "
        super().__init__(prefix + problem)
        self.file = file
        self.line = line
        self.path = path
        self.problem = problem


class NothingSelected(BuilderError):
    """The selection (--base/--argo/--only/--skip) matched no target."""

    exit_code = EXIT_NOTHING_SELECTED


class Unreachable(BuilderError):
    """A Docker engine or a registry could not be reached."""

    exit_code = EXIT_UNREACHABLE


class PushDenied(InputError):
    """A registry refused the engine's push (log in, or fix the repository's permissions)."""


class IndexIncomplete(TargetFailed):
    """A multi-platform tag would lack a Windows entry the matrix expects: it is not written (exit 1).
    ``entries``: the per-base entries that were found (index_tag.Entry)."""

    def __init__(self, message: str, entries: tuple = ()):
        super().__init__(message)
        self.entries = entries


class BaseUnavailable(BuilderError):
    """A base image could not be pulled for one target: that target's build fails, the others go on."""


class RegistryError(BuilderError):
    """The registry answered, but not what the operation needs (exit 1)."""


class ManifestUnknown(RegistryError):
    """The registry has no manifest under that tag or digest (its 404)."""


class RegistryDenied(InputError):
    """The registry refused the credentials (exit 2: log in, or fix the repository)."""


class CredentialsError(RegistryDenied):
    """The Docker config's credentials for a registry cannot be read (exit 2: fix the file, or log in
    again). A kind of RegistryDenied: like a refusal, it stops the whole run, not one target."""


class DigestMismatch(BuilderError):
    """Bytes from (or stored by) a registry are not the ones their digest names (exit 1)."""


class ClusterDenied(InputError):
    """The Argo Server refused the token (401/403) or has no such namespace (exit 2: fix the token, its
    RBAC or --namespace). Like a registry's refusal, it stops the whole run, not one target."""


class ClusterError(BuilderError):
    """The Argo Server answered, but not what the cluster check needs (exit 1)."""


# What failed, in words, for summaries and short notes: a user reads "registry unreachable", never a class name.
_IN_WORDS = (
    (CredentialsError, "registry credentials unreadable"),
    (RegistryDenied, "registry access denied"),
    (Unreachable, "unreachable"),
    (ManifestUnknown, "image not found in the registry"),
    (DigestMismatch, "digest mismatch"),
    (BaseUnavailable, "base image unavailable"),
    (RegistryError, "unexpected registry answer"),
    (ClusterDenied, "cluster access denied"),
    (ClusterError, "unexpected cluster answer"),
    (IndexIncomplete, "multi-platform tag incomplete"),
    (NothingSelected, "nothing selected"),
    (InputError, "bad input"),
    (TargetFailed, "failed"),
)


def in_words(exc: BaseException) -> str:
    """What kind of failure ``exc`` is, in a few words (not its class name): for summaries and notes."""
    for kind, words in _IN_WORDS:
        if isinstance(exc, kind):
            return words
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return "unreachable"
    if isinstance(exc, OSError):
        return exc.strerror.lower() if exc.strerror else "system error"
    return "unexpected error"
