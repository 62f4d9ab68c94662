"""Identity errors, each a problem document."""

from __future__ import annotations

from atrium.core.errors import BadRequest, Forbidden


class SignupClosed(Forbidden):
    code = "signup-closed"
    title = "Signup is by invitation only"


class InvalidToken(BadRequest):
    code = "invalid-token"
    title = "Invalid or expired token"

    def __init__(self) -> None:
        super().__init__("the link is invalid, expired or already used; sign up again for a new one", field="token")
