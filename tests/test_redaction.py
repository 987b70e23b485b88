"""The Redactor, pure logic: every form of a secret it claims to mask is masked,
in any surrounding text; text without a secret is left alone."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from jobsvc.context import cap_line
from jobsvc.redaction import MASK, MIN_SECRET_CHARS, Redactor

secrets = st.text(min_size=MIN_SECRET_CHARS, max_size=40).filter(
    lambda s: "\x00" not in s and len(s.strip()) >= MIN_SECRET_CHARS
)
# Plain single-line secrets, as tokens usually are.
tokens = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=4, max_size=40
)
around = st.text(max_size=30)


@settings(max_examples=300)
@given(secrets, around, around)
def test_a_raw_value_never_survives_whatever_surrounds_it(secret, before, after):
    assert secret not in Redactor([secret]).text(before + secret + after)


@settings(max_examples=200)
@given(secrets, around, around)
def test_a_value_inside_a_json_document_is_masked(secret, before, after):
    for ascii_only in (True, False):
        document = json.dumps({"token": secret, "note": before}, ensure_ascii=ascii_only)
        out = Redactor([secret]).text(before + document + after)
        assert json.dumps(secret, ensure_ascii=ascii_only)[1:-1] not in out
        assert secret not in out


@settings(max_examples=200)
@given(secrets, around, around)
def test_a_percent_encoded_value_is_masked(secret, before, after):
    lower_hex = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe=""))
    for encoded in (quote(secret, safe=""), quote_plus(secret), lower_hex):
        out = Redactor([secret]).text(f"{before}https://x.example/?t={encoded}&{after}")
        assert encoded not in out


@settings(max_examples=200)
@given(tokens, st.binary(max_size=8), st.binary(max_size=8))
def test_base64_of_a_longer_input_holding_the_value_loses_the_value_s_part(secret, pre, post):
    data = secret.encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(pre + data + post).decode()
        out = Redactor([secret]).text(f"Authorization: Basic {encoded}")
        # The characters made of the value's bits only, at its alignment.
        shift = len(pre) % 3
        whole = encode(b"\0" * shift + data + b"\0\0").decode()
        core = whole[-(-shift * 8 // 6) : (shift + len(data)) * 8 // 6]
        assert core not in out, (encoded, out)
        assert MASK in out


@settings(max_examples=200)
@given(tokens, around, around)
def test_hex_of_the_value_is_masked_in_either_case(secret, before, after):
    hexed = secret.encode().hex()
    for form in (hexed, hexed.upper()):
        assert form not in Redactor([secret]).text(before + form + after)


@settings(max_examples=200)
@given(tokens, tokens, around, around)
def test_a_secret_that_begins_another_masks_the_longer_one_whole(short, tail, before, after):
    longer = short + tail
    redactor = Redactor([short, longer])
    assert redactor.text(longer) == MASK
    out = redactor.text(before + longer + after)
    assert short not in out and longer not in out


def test_a_plain_standalone_base64_is_masked_whole():
    secret = "token"
    encoded = base64.b64encode(secret.encode()).decode()  # dG9rZW4=
    assert Redactor([secret]).text(f"x {encoded} y") == f"x {MASK} y"


def test_a_basic_auth_header_of_user_and_value_loses_the_value():
    secret = "s3cr3t-deploy-key"
    header = "Basic " + base64.b64encode(f"deploy:{secret}".encode()).decode()
    out = Redactor([secret]).text(header)
    assert MASK in out
    decoded = base64.b64decode(out.removeprefix("Basic ").split(MASK)[0] + "==", validate=False)
    assert secret.encode() not in decoded


def test_each_line_of_a_multi_line_secret_is_masked_on_its_own():
    key = "\n".join(
        [
            "-----BEGIN KEY-----",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "BKcwggSjAgEAAoIB",
            "-----END KEY-----",
        ]
    )
    redactor = Redactor([key])
    for line in key.split("\n"):
        assert redactor.text(f"> {line}") == f"> {MASK}"


def test_a_mask_that_spells_the_value_with_its_neighbours_is_masked_again():
    assert Redactor(["a***"]).text("aa***") == MASK


def test_values_too_short_to_mask_safely_are_ignored():
    assert Redactor(["abc"]).text("abc abc") == "abc abc"
    assert not Redactor(["abc"])


@given(around)
def test_no_secrets_changes_nothing(text):
    assert Redactor([]).text(text) == text
    assert Redactor([]).value({"a": [text]}) == {"a": [text]}


def test_text_without_the_value_is_left_alone():
    redactor = Redactor(["hunter22"])
    assert redactor.text("nothing to see: hunter2 hunter") == "nothing to see: hunter2 hunter"


def test_json_values_are_masked_in_keys_strings_and_numbers():
    redactor = Redactor(["123456789", "swordfish"])
    value = {"swordfish": ["a swordfish", 123456789, 1.5, True, None], "n": 7}
    assert redactor.value(value) == {MASK: [f"a {MASK}", MASK, 1.5, True, None], "n": 7}


def test_a_cut_text_ending_in_the_start_of_a_value_has_that_start_masked():
    redactor = Redactor(["swordfish"])
    assert redactor.cut_end("password: swor") == f"password: {MASK}"
    assert redactor.cut_end("password: none") == "password: none"


def test_a_capped_line_never_keeps_the_start_of_a_value_cut_by_the_cap():
    """A shell child's line arrives cut at the cap plus one byte (its rest was
    dropped unread): a value it ended in is cut too, and its start is masked."""
    secret = "correct-horse-battery-staple"
    redactor = Redactor([secret])
    for offset in range(len(secret) + 2):
        arrived = ("x" * (100 - offset) + secret + "tail")[:101]
        capped = cap_line(redactor.text(arrived), limit=100, redactor=redactor)
        kept = capped.split("…")[0]
        assert not any(kept.endswith(secret[:k]) for k in range(1, len(secret))), capped


def test_a_long_line_is_redacted_before_the_cap_cuts_it():
    secret = "correct-horse-battery-staple"
    redactor = Redactor([secret])
    line = "x" * 90 + secret
    assert cap_line(redactor.text(line), limit=100, redactor=redactor) == "x" * 90 + MASK
