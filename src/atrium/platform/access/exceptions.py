"""Refusals of the access service, each with its own stable code so clients can react
(``step-up-required`` → ask for the password again; ``approval-required`` → show the request)."""

from __future__ import annotations

from typing import Any

from atrium.core.errors import AtriumError, Forbidden


class PermissionDenied(Forbidden):
    code = "permission-denied"
    title = "Permission denied"

    def __init__(self, permission: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or f"you need the permission {permission!r}", permission=permission, **extra)


class ImpersonationBlocked(Forbidden):
    code = "impersonation-blocked"
    title = "Not while viewing as another member"


class StepUpRequired(Forbidden):
    code = "step-up-required"
    title = "Confirm it is you"


class MfaRequiredByRole(Forbidden):
    code = "mfa-required"
    title = "A second factor is required"


class ApprovalRequired(AtriumError):
    """Not an error for the caller: the action is queued. Routes turn it into ``202 Accepted``."""

    status_code = 202
    code = "approval-required"
    title = "Waiting for approval"
