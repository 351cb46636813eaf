"""Error hierarchy.

Every error the tool raises on purpose derives from `AuditorError`, so the CLI can
turn it into a one-line message and exit code 2 (error/incomplete) instead of a
traceback. Sub-classes say *which stage* failed, like huggingface_hub's errors do.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ModelResolveError(AuditorError):
    """The model reference could not be turned into local files."""


class RepoNotFoundError(ModelResolveError):
    """The hub has no such repository (or it is private and we are not allowed)."""


class RevisionNotFoundError(ModelResolveError):
    """The repository exists but the revision does not."""


class GatedRepoError(ModelResolveError):
    """The repository needs authorisation we do not have."""


class HubUnreachableError(ModelResolveError):
    """The hub endpoint did not answer."""


class NotAModelError(ModelResolveError):
    """A directory or file that holds no model we can recognise."""


class ModelLoadError(AuditorError):
    """The model's files exist but cannot be safely loaded for behavioural checks."""


class MalformedFileError(AuditorError):
    """A file is corrupt or violates its format; the audit is incomplete."""


class ResourceLimitError(AuditorError):
    """A configured resource limit was hit; the audit is incomplete, never a pass."""


class PolicyError(AuditorError):
    """The policy (or a waiver in it) is invalid."""


class BatteryError(AuditorError):
    """A trigger battery / prompt file is invalid."""


class ReportError(AuditorError):
    """A report could not be built, validated or written."""


class SignatureError(AuditorError):
    """Signing or verifying failed."""
