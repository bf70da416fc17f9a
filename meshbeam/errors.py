"""Error types. Each carries a one-line message meant for people, never a secret."""


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
