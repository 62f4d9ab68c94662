"""API shapes of the SMS second factor."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from atrium.platform.identity.sms import CODE_MINUTES, normalise_phone
from atrium.platform.identity.webauthn_schemas import SignInChallenge

Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_phone)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]


class SmsEnrolment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Phone = Field(
        description="E.164: '+', the country code and the number, e.g. +14155550100 (spaces and dashes are ignored)."
    )


class SmsConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="The six digits texted to the phone.")


class SmsCodeSent(BaseModel):
    sent_to: str = Field(description="The phone the code went to, all but the last four digits hidden.")
    expires_in_seconds: int = Field(CODE_MINUTES * 60, description="The code works once, until then.")


class SmsFactorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    phone_e164: str
    confirmed_at: dt.datetime | None = Field(description="Unset until a texted code came back.")
    created_at: dt.datetime


class SmsConfirmed(SmsFactorRead):
    recovery_codes: list[str] = Field(
        description="Each works once; shown this once. Issued only when you had no unused recovery codes; "
        "otherwise empty (regenerate them at /api/v1/me/mfa/recovery-codes)."
    )


class SmsSignInAnswer(SignInChallenge):
    code: Code = Field(description="The six digits texted for this sign-in.")
    remember_device: bool = Field(
        False, description="Skip the second factor on this browser for as long as your tenants' policies allow."
    )
