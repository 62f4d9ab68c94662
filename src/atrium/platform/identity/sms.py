"""SMS as an optional second factor, off by default.

NIST SP 800-63B makes SMS a *restricted* authenticator: allowed, but a SIM swap or a redirected
number defeats it, so Atrium never recommends it over an authenticator app or a security key, and
an operator must choose to offer it (``ATRIUM_SMS_PROVIDER``).

Delivery sits behind ``SmsSender``: ``DisabledSms`` (the default), ``FileSms`` (development: one
JSON file per message under ``<data dir>/sms``) and ``HttpSms`` (POSTs ``{to, text}`` to a webhook
that bridges any gateway, so Atrium carries no vendor SDK).

Codes are six random digits, single use, valid five minutes; ``email_tokens`` keeps only
SHA-256(code, user id, a per-send nonce). A new code spends the previous one; a code takes at most
``ATRIUM_LOGIN_MAX_FAILURES`` wrong answers (the login throttle counts them) before it is spent.
Sending is rationed, because every message costs money and SMS pumping is a known fraud: one
message per 30 s per person, five per sign-in challenge, five enrolment messages per hour.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx
from sqlalchemy import delete, select, update

from atrium.core.db import utcnow
from atrium.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized
from atrium.platform.identity import events, mfa
from atrium.platform.identity.models import EmailToken, RecoveryCode, User
from atrium.platform.identity.service import usable_token
from atrium.platform.identity.sessions import SignedIn, TooManyAttempts, start_session
from atrium.platform.identity.sms_models import SmsFactor
from atrium.platform.identity.webauthn import InvalidSignInChallenge, relying_party

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from atrium.core.settings import Settings
    from atrium.runtime import Runtime

ENROL, SIGN_IN = "sms_enrol", "sms_sign_in"  # email_tokens.purpose
CODE_MINUTES = 5
RESEND_SECONDS = 30
SENDS_PER_CHALLENGE = 5
ENROL_SENDS_PER_HOUR = 5
WEBHOOK_TIMEOUT_SECONDS = 10.0
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_SEPARATORS = re.compile(r"[\s().-]")


class SmsDisabled(Conflict):
    code = "sms-disabled"
    title = "SMS is turned off"

    def __init__(self) -> None:
        super().__init__(
            "this platform does not offer SMS codes (ATRIUM_SMS_PROVIDER is off); use an authenticator app, "
            "a security key or a recovery code"
        )


class SmsDeliveryFailed(ServiceUnavailable):
    code = "sms-delivery-failed"
    title = "The SMS could not be sent"


# -- delivery ---------------------------------------------------------------------------------------


class SmsSender(Protocol):
    async def send(self, to_e164: str, text: str) -> None: ...


class DisabledSms:
    """The default: nothing is sent; reaching it means a caller forgot to check the setting."""

    async def send(self, to_e164: str, text: str) -> None:
        raise SmsDisabled()


class FileSms:
    """Development: each message becomes ``<directory>/<UTC time>-<id>.json`` with ``to``, ``text``
    and ``sent_at``; names sort in sending order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, to_e164: str, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        message = {"to": to_e164, "text": text, "sent_at": now.isoformat()}
        (self.directory / f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json").write_text(json.dumps(message))


class HttpSms:
    """POSTs ``{"to": …, "text": …}`` as JSON to an operator's webhook (with ``Authorization:
    Bearer`` when a token is set); any 2xx means accepted. Redirects are not followed."""

    def __init__(self, url: str, token: str | None, *, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    async def send(self, to_e164: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                response = await client.post(self.url, json={"to": to_e164, "text": text}, headers=headers)
        except httpx.HTTPError as exc:
            raise SmsDeliveryFailed(f"the SMS gateway could not be reached ({type(exc).__name__})") from exc
        if not response.is_success:
            raise SmsDeliveryFailed(f"the SMS gateway refused the message (HTTP {response.status_code})")


def make_sender(settings: Settings) -> SmsSender:
    if settings.sms_provider == "file":
        return FileSms(settings.data_dir / "sms")
    if settings.sms_provider == "webhook" and settings.sms_webhook_url:
        token = settings.sms_webhook_token.get_secret_value() if settings.sms_webhook_token else None
        return HttpSms(settings.sms_webhook_url, token)
    return DisabledSms()


# -- phone numbers and codes ------------------------------------------------------------------------


def normalise_phone(value: str) -> str:
    """E.164 (``+``, country code and number: 8 to 15 digits); spaces, dots, dashes and brackets go."""
    phone = _SEPARATORS.sub("", value)
    if not _E164.fullmatch(phone):
        raise ValueError("not an E.164 phone number: '+', the country code and the number, 8 to 15 digits")
    return phone


def masked(phone: str) -> str:
    """What events and answers show of a number: the last four digits."""
    return "+" + "•" * (len(phone) - 5) + phone[-4:]


def _code_hash(code: str, user_id: str, nonce: str) -> str:
    return hashlib.sha256(f"{code.strip()}|{user_id}|{nonce}".encode()).hexdigest()


def _matches(sent: EmailToken, user_id: str, code: str) -> bool:
    return secrets.compare_digest(sent.token_hash, _code_hash(code, user_id, str(sent.payload.get("nonce"))))


def _throttle_key(sent: EmailToken) -> str:
    return f"sms-code:{sent.id}"


def _text(settings: Settings, code: str, what: str) -> str:
    """The message; its last line is the WebOTP form, so browsers offer the code only on this site."""
    return (
        f"{code} is your Atrium {what} code. It expires in {CODE_MINUTES} minutes; never share it.\n\n"
        f"@{relying_party(settings).id} #{code}"
    )


def _require_enabled(rt: Runtime) -> None:
    if rt.settings.sms_provider == "off":
        raise SmsDisabled()


async def _confirmed(session: AsyncSession, user_id: str) -> SmsFactor | None:
    factor = await session.get(SmsFactor, user_id)
    return factor if factor is not None and factor.confirmed_at is not None else None


async def _check_send_rate(session: AsyncSession, user_id: str, purpose: str, challenge_id: str | None) -> None:
    """Refuse (429) a message within 30 s of the last one, the sixth for a sign-in challenge or the
    sixth enrolment message within an hour."""
    now = utcnow()
    recent = (
        await session.execute(
            select(EmailToken.created_at, EmailToken.purpose, EmailToken.payload).where(
                EmailToken.user_id == user_id,
                EmailToken.purpose.in_((ENROL, SIGN_IN)),
                EmailToken.created_at > now - dt.timedelta(hours=1),
            )
        )
    ).all()
    if recent:
        wait = (max(r.created_at for r in recent) + dt.timedelta(seconds=RESEND_SECONDS) - now).total_seconds()
        if wait > 0:
            raise TooManyAttempts(
                f"a code was sent moments ago; ask again in {int(wait) + 1} s", retry_after=int(wait) + 1
            )
    for_challenge = sum(r.purpose == SIGN_IN and r.payload.get("challenge") == challenge_id for r in recent)
    if purpose == SIGN_IN and for_challenge >= SENDS_PER_CHALLENGE:
        raise TooManyAttempts(f"{SENDS_PER_CHALLENGE} codes were sent for this sign-in; sign in again")
    if purpose == ENROL and sum(r.purpose == ENROL for r in recent) >= ENROL_SENDS_PER_HOUR:
        raise TooManyAttempts(f"{ENROL_SENDS_PER_HOUR} enrolment codes were sent this hour; try again later")


async def _issue_code(session: AsyncSession, user_id: str, purpose: str, challenge_id: str | None) -> tuple[str, str]:
    """A new code for ``purpose``, spending the user's earlier ones; returns (code, its row id)."""
    now = utcnow()
    await session.execute(
        update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
        .values(used_at=now)
    )
    code, nonce = f"{secrets.randbelow(10**6):06d}", secrets.token_hex(16)
    sent = EmailToken(
        user_id=user_id,
        purpose=purpose,
        token_hash=_code_hash(code, user_id, nonce),
        payload={"nonce": nonce, "challenge": challenge_id},
        created_at=now,
        expires_at=now + dt.timedelta(minutes=CODE_MINUTES),
    )
    session.add(sent)
    await session.flush()
    return code, sent.id


async def _deliver(rt: Runtime, user: User, sent_id: str, phone: str, text: str, purpose: str) -> None:
    """Hand the message to the provider after the code is stored; a failed hand-over deletes the code,
    so it counts against no limit, and is answered 503."""
    try:
        await make_sender(rt.settings).send(phone, text)
    except Exception:
        async with rt.db.platform_session() as session, session.begin():
            await session.execute(delete(EmailToken).where(EmailToken.id == sent_id))
        raise
    async with rt.db.platform_session() as session, session.begin():
        data = {"kind": "sms", "purpose": purpose, "to": masked(phone)}
        await events.record(session, "user.mfa.sms_sent", user_id=user.id, data=data, actor=user.email)


async def _live_code(
    session: AsyncSession, user_id: str, purpose: str, challenge_id: str | None = None
) -> EmailToken | None:
    """The user's current code for ``purpose`` (at most one is unused), locked; for a sign-in it must
    have been sent for this challenge."""
    sent = (
        await session.execute(
            select(EmailToken)
            .where(
                EmailToken.user_id == user_id,
                EmailToken.purpose == purpose,
                EmailToken.used_at.is_(None),
                EmailToken.expires_at > utcnow(),
            )
            .order_by(EmailToken.created_at.desc())
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if sent is None or (challenge_id is not None and sent.payload.get("challenge") != challenge_id):
        return None
    return sent


async def _wrong_answer(rt: Runtime, user: User, sent_id: str, keys: tuple[str, ...], *, sign_in: bool) -> str:
    """Count a wrong code (``keys[0]`` is the code's own counter); past the limit the code is spent.
    Returns the explanation for the caller."""
    await rt.login_throttle.failed(*keys)
    spent = await rt.login_throttle.retry_after(keys[0]) > 0
    async with rt.db.platform_session() as session, session.begin():
        if spent:
            await session.execute(
                update(EmailToken)
                .where(EmailToken.id == sent_id, EmailToken.used_at.is_(None))
                .values(used_at=utcnow())
            )
        if sign_in:
            data = {"kind": "sms", "code_spent": spent}
            await events.record(session, "user.mfa.failed", user_id=user.id, data=data, actor=user.email)
    return "that code is not valid" + ("; too many wrong answers spent it: ask for a new one" if spent else "")


# -- enrolment --------------------------------------------------------------------------------------


async def get_own(rt: Runtime, user: User) -> SmsFactor:
    async with rt.db.platform_session() as session:
        factor = await session.get(SmsFactor, user.id)
    if factor is None:
        raise NotFound("no SMS phone is enrolled", field="phone")
    return factor


async def begin_enrolment(rt: Runtime, user: User, phone: str) -> str:
    """Keep the (unconfirmed) phone and text it a code; returns the masked number."""
    _require_enabled(rt)
    async with rt.db.platform_session() as session, session.begin():
        factor = await session.get(SmsFactor, user.id, with_for_update=True)
        if factor is not None and factor.confirmed_at is not None:
            raise Conflict("an SMS phone is already enrolled; remove it first", field="phone")
        await _check_send_rate(session, user.id, ENROL, None)
        if factor is None:
            session.add(SmsFactor(user_id=user.id, phone_e164=phone))
        else:
            factor.phone_e164, factor.created_at = phone, utcnow()
        code, sent_id = await _issue_code(session, user.id, ENROL, None)
    await _deliver(rt, user, sent_id, phone, _text(rt.settings, code, "verification"), ENROL)
    return masked(phone)


async def confirm_enrolment(rt: Runtime, user: User, code: str) -> tuple[SmsFactor, list[str]]:
    """The code came back: the phone is a second factor. Returns it, and recovery codes (shown once)
    when the person has none left: should SMS be turned off later, they still get in."""
    _require_enabled(rt)
    needs_recovery_codes = False
    async with rt.db.platform_session() as session, session.begin():
        factor = await session.get(SmsFactor, user.id, with_for_update=True)
        if factor is None or factor.confirmed_at is not None:
            raise BadRequest("start the enrolment first: POST a phone number", field="phone")
        sent = await _live_code(session, user.id, ENROL)
        if sent is None:
            raise BadRequest(f"no current code: ask for one (codes last {CODE_MINUTES} minutes)", field="code")
        key = _throttle_key(sent)
        accepted = await rt.login_throttle.retry_after(key) <= 0 and _matches(sent, user.id, code)
        if accepted:
            sent.used_at = factor.confirmed_at = utcnow()
            data = {"kind": "sms", "phone": masked(factor.phone_e164)}
            await events.record(session, "user.mfa.enrolled", user_id=user.id, data=data, actor=user.email)
            unused = select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
            needs_recovery_codes = (await session.execute(unused.limit(1))).first() is None
    if not accepted:
        raise BadRequest(await _wrong_answer(rt, user, sent.id, (key,), sign_in=False), field="code")
    await rt.login_throttle.succeeded(key)
    codes = await mfa.regenerate_recovery_codes(rt, user) if needs_recovery_codes else []
    return factor, codes


async def remove(rt: Runtime, user: User) -> None:
    """Forget the phone and its pending codes; allowed even while SMS is off."""
    async with rt.db.platform_session() as session, session.begin():
        factor = await session.get(SmsFactor, user.id)
        if factor is None:
            raise NotFound("no SMS phone is enrolled", field="phone")
        await session.delete(factor)
        await session.execute(
            update(EmailToken)
            .where(
                EmailToken.user_id == user.id, EmailToken.purpose.in_((ENROL, SIGN_IN)), EmailToken.used_at.is_(None)
            )
            .values(used_at=utcnow())
        )
        data = {"kind": "sms", "phone": masked(factor.phone_e164)}
        await events.record(session, "user.mfa.removed", user_id=user.id, data=data, actor=user.email)


# -- sign-in ----------------------------------------------------------------------------------------


async def send_sign_in_code(rt: Runtime, token: str) -> str:
    """Text a code answering a password sign-in's challenge; returns the masked number."""
    _require_enabled(rt)
    async with rt.db.platform_session() as session, session.begin():
        pending = (await session.execute(usable_token(token, mfa.MFA_CHALLENGE).with_for_update())).scalar_one_or_none()
        if pending is None:
            raise InvalidSignInChallenge()
        factor = await _confirmed(session, pending.user_id)
        if factor is None:
            raise BadRequest("the account has no SMS phone; answer with another factor", field="challenge")
        await _check_send_rate(session, pending.user_id, SIGN_IN, pending.id)
        code, sent_id = await _issue_code(session, pending.user_id, SIGN_IN, pending.id)
        user = await session.get(User, pending.user_id)
        assert user is not None
    await _deliver(rt, user, sent_id, factor.phone_e164, _text(rt.settings, code, "sign-in"), SIGN_IN)
    return masked(factor.phone_e164)


async def answer(rt: Runtime, token: str, code: str, *, ip: str | None, user_agent: str | None) -> SignedIn:
    """Answer the challenge with the texted code; spends both and starts an MFA session."""
    _require_enabled(rt)
    async with rt.db.platform_session() as session, session.begin():
        pending = (await session.execute(usable_token(token, mfa.MFA_CHALLENGE).with_for_update())).scalar_one_or_none()
        if pending is None:
            raise InvalidSignInChallenge()
        user = await session.get(User, pending.user_id)
        assert user is not None
        account = f"mfa:{user.id}"  # shared with TOTP and security-key answers
        wait = await rt.login_throttle.retry_after(account)
        if wait > 0:
            raise TooManyAttempts(f"too many wrong codes; try again in {int(wait) + 1} s", retry_after=int(wait) + 1)
        if await _confirmed(session, user.id) is None:
            raise BadRequest("the account has no SMS phone; answer with another factor", field="challenge")
        sent = await _live_code(session, user.id, SIGN_IN, pending.id)
        if sent is None:
            raise BadRequest(
                f"no current code for this sign-in: ask for one (codes last {CODE_MINUTES} minutes)", field="code"
            )
        key = _throttle_key(sent)
        accepted = await rt.login_throttle.retry_after(key) <= 0 and _matches(sent, user.id, code)
        if accepted:
            sent.used_at = pending.used_at = utcnow()
    if not accepted:
        raise Unauthorized(await _wrong_answer(rt, user, sent.id, (key, account), sign_in=True), field="code")
    await rt.login_throttle.succeeded(account, key)
    return await start_session(rt, user, ip=ip, user_agent=user_agent, mfa=True)
