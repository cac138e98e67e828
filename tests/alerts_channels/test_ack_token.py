from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alerts.ack_token import (
    MAX_ID_BYTES,
    AckClaim,
    BadAckSignature,
    ExpiredAckToken,
    InvalidAckToken,
    MalformedAckToken,
    issue,
    verify,
)
from alerts.errors import AlertsError

SECRET = b"k1-0123456789abcdef0123456789abcdef"
OLD_SECRET = b"k0-fedcba9876543210fedcba9876543210"
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 27, 10, 0, 0, 120_000, tzinfo=CST)
EXPIRES = NOW + timedelta(hours=2)
URL_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _token(alert_id: str = "a-20261127-0001", recipient: str = "custodian:zhang-wei") -> str:
    return issue(SECRET, alert_id, recipient, EXPIRES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_round_trip() -> None:
    claim = verify(SECRET, _token(), NOW)
    assert claim == AckClaim(alert_id="a-20261127-0001", recipient="custodian:zhang-wei", expires_at=EXPIRES)
    assert claim.expires_at.tzinfo is UTC


def test_token_is_url_safe_without_padding() -> None:
    token = _token("告警/1?x=1&y=2", "曲阜市文物局 值班室")
    assert set(token) <= URL_SAFE
    assert "=" not in token


def test_errors_share_the_package_root() -> None:
    for cls in (MalformedAckToken, BadAckSignature, ExpiredAckToken):
        assert issubclass(cls, InvalidAckToken)
        assert issubclass(cls, AlertsError)


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (EXPIRES - timedelta(microseconds=1), "ok"),
        (EXPIRES, "expired"),
        (EXPIRES + timedelta(microseconds=1), "expired"),
        (EXPIRES.astimezone(UTC) - timedelta(microseconds=1), "ok"),  # same instant, other offset
        (EXPIRES.astimezone(timezone(timedelta(hours=-5))), "expired"),
        (NOW - timedelta(days=365), "ok"),  # the token does not care about issue time
    ],
)
def test_expiry_boundary_is_exact(now: datetime, outcome: str) -> None:
    token = _token()
    if outcome == "ok":
        assert verify(SECRET, token, now).expires_at == EXPIRES
    else:
        with pytest.raises(ExpiredAckToken) as caught:
            verify(SECRET, token, now)
        assert caught.value.reason == "expired"
        assert caught.value.claim.alert_id == "a-20261127-0001"
        assert "expired" in str(caught.value)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("", MalformedAckToken),
        ("abc", MalformedAckToken),  # not a whole number of bytes
        ("not a token!", MalformedAckToken),
        ("告警", MalformedAckToken),
        (_b64(b"\x01" * 20), MalformedAckToken),  # shorter than a MAC
        (_b64(b"\x02" + b"\x00" * 50), MalformedAckToken),  # unknown version
        (_b64(b"\x01\x00\x05ab" + b"\x00" * 32), MalformedAckToken),  # length past the end
        (_b64(b"\x01\x00\x01a\x00\x01b" + b"\x00" * 3 + b"\x00" * 32), MalformedAckToken),  # expiry truncated
        (_b64(b"\x01\x00\x02\xff\xfe\x00\x01b" + b"\x00" * 8 + b"\x00" * 32), MalformedAckToken),  # not UTF-8
        (_b64(b"\x01\x00\x01a\x00\x01b" + b"\x7f" + b"\xff" * 7 + b"\x00" * 32), MalformedAckToken),  # year 292277
        (_b64(b"\x01\x00\x01a\x00\x01b" + b"\x00" * 8 + b"\x00" * 32), BadAckSignature),  # well formed, unsigned
    ],
)
def test_refusals_table(token: str, error: type[InvalidAckToken]) -> None:
    with pytest.raises(error) as caught:
        verify(SECRET, token, NOW)
    assert type(caught.value) is error


def test_non_canonical_base64_is_malformed() -> None:
    token = _token()
    assert len(token) % 4 != 0  # the last character has unused low bits
    # Flip one unused low bit of the last character: standard decoders read the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    padded = twin + "=" * (-len(twin) % 4)
    assert base64.urlsafe_b64decode(padded) == base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    with pytest.raises(MalformedAckToken):
        verify(SECRET, twin, NOW)
    with pytest.raises(MalformedAckToken):
        verify(SECRET, padded, NOW)  # padding is not part of the form
    swapped = token.replace("-", "+").replace("_", "/")
    if swapped != token:  # the standard alphabet spells the same bytes; only base64url is the form
        with pytest.raises(MalformedAckToken):
            verify(SECRET, swapped, NOW)


def test_wrong_secret_is_bad_signature() -> None:
    with pytest.raises(BadAckSignature) as caught:
        verify(b"someone else's key", _token(), NOW)
    assert str(caught.value) == "ack token bad signature"


def test_signature_checked_before_expiry() -> None:
    # A forged token must not learn that its claim would have expired.
    stale = issue(b"attacker", "a-1", "r-1", NOW - timedelta(days=1))
    with pytest.raises(BadAckSignature):
        verify(SECRET, stale, NOW)


@pytest.mark.parametrize(
    ("signed_with", "accepted_keys", "ok"),
    [
        (SECRET, [SECRET, OLD_SECRET], True),
        (OLD_SECRET, [SECRET, OLD_SECRET], True),  # issued before the rotation, still in flight
        (OLD_SECRET, [SECRET], False),  # the old key retired
        (SECRET, (SECRET,), True),
    ],
)
def test_key_rotation(signed_with: bytes, accepted_keys: list[bytes], ok: bool) -> None:
    token = issue(signed_with, "a-1", "r-1", EXPIRES)
    if ok:
        assert verify(accepted_keys, token, NOW).alert_id == "a-1"
    else:
        with pytest.raises(BadAckSignature):
            verify(accepted_keys, token, NOW)


def test_claim_fields_are_bound_to_one_another() -> None:
    # Same ids split differently must not collide (length prefixes make the encoding canonical).
    assert issue(SECRET, "ab", "c", EXPIRES) != issue(SECRET, "a", "bc", EXPIRES)
    assert verify(SECRET, issue(SECRET, "a", "bc", EXPIRES), NOW).recipient == "bc"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: issue(b"", "a", "r", EXPIRES), "secret must not be empty"),
        (lambda: issue(SECRET, "a", "r", datetime(2026, 11, 27, 12)), "timezone-aware"),
        (lambda: issue(SECRET, "a" * (MAX_ID_BYTES + 1), "r", EXPIRES), "at most"),
        (lambda: issue(SECRET, "a", "\ud800", EXPIRES), "surrogate"),
        (lambda: verify([], "x", NOW), "at least one secret"),
        (lambda: verify(SECRET, _token(), datetime(2026, 11, 27, 12)), "timezone-aware"),
    ],
)
def test_our_faults_are_value_errors(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_secret_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        issue("a str secret", "a", "r", EXPIRES)  # type: ignore[arg-type]


ids = st.text(st.characters(codec="utf-8"), max_size=60)
moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.sampled_from([UTC, CST])
)


@settings(max_examples=200, deadline=None)
@given(alert_id=ids, recipient=ids, expires_at=moments)
@example(alert_id="曲阜孔庙大成殿-火警", recipient="曲阜市消防救援大队", expires_at=EXPIRES)
@example(alert_id="", recipient="", expires_at=EXPIRES)
def test_round_trip_any_ids(alert_id: str, recipient: str, expires_at: datetime) -> None:
    token = issue(SECRET, alert_id, recipient, expires_at)
    assert set(token) <= URL_SAFE
    claim = verify([OLD_SECRET, SECRET], token, expires_at - timedelta(microseconds=1))
    assert claim == AckClaim(alert_id=alert_id, recipient=recipient, expires_at=expires_at)
    with pytest.raises(ExpiredAckToken):
        verify(SECRET, token, expires_at)


@settings(max_examples=300, deadline=None)
@given(
    alert_id=ids,
    recipient=ids,
    position=st.integers(min_value=0),
    replacement=st.sampled_from([*sorted(URL_SAFE), "=", "+", "/", ".", "告", " "]),
)
def test_any_single_character_change_is_rejected(
    alert_id: str, recipient: str, position: int, replacement: str
) -> None:
    token = issue(SECRET, alert_id, recipient, EXPIRES)
    i = position % len(token)
    if token[i] == replacement:
        return
    tampered = token[:i] + replacement + token[i + 1 :]
    with pytest.raises(InvalidAckToken):
        verify(SECRET, tampered, NOW)


@settings(max_examples=200, deadline=None)
@given(alert_id=ids, position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_the_decoded_token_is_rejected(alert_id: str, position: int, flip: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(_pad(issue(SECRET, alert_id, "r", EXPIRES))))
    raw[position % len(raw)] ^= flip
    with pytest.raises(InvalidAckToken):
        verify(SECRET, _b64(bytes(raw)), NOW)


@settings(max_examples=100, deadline=None)
@given(alert_id=ids, cut=st.integers(min_value=1, max_value=200))
def test_truncation_and_extension_are_rejected(alert_id: str, cut: int) -> None:
    token = issue(SECRET, alert_id, "r", EXPIRES)
    with pytest.raises(InvalidAckToken):
        verify(SECRET, token[: max(0, len(token) - cut)], NOW)
    with pytest.raises(InvalidAckToken):
        verify(SECRET, token + "A" * cut, NOW)


def _pad(token: str) -> str:
    return token + "=" * (-len(token) % 4)
