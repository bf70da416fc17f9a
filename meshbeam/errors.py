"""Error types. Each carries a one-line message meant for people, never a secret.

Every expected failure is a MeshbeamError: the CLI prints its message on one line and exits with
its code (input 2, anything else 1). Any other exception is a bug in meshbeam: the CLI says so on
one line and exits 3, or shows the traceback with `--debug`.
"""

BUG_EXIT = 3


class MeshbeamError(Exception):
    """Base class; the CLI prints str(error) on one line."""

    exit_code = 1


class InputError(MeshbeamError):
    """Bad inventory or command line: exit status 2 and nothing written."""

    exit_code = 2


class RemoteError(MeshbeamError):
    """A host could not be reached or refused a step; reported per host."""


class LockedError(MeshbeamError):
    """Another meshbeam process holds the inventory lock."""


class PlanError(MeshbeamError):
    """A host cannot be converged as it is: a tool is missing, a file is one meshbeam must not touch."""


class ContentError(PlanError, ValueError):
    """A file's text that meshbeam cannot rewrite safely (vm.args, env.sh, an -args_file include).

    Also a ValueError: the pure text modules that raise it say what is wrong with a value."""
