"""Channel limits: SMS encodings and segments, truncation, WhatsApp parameters, email subjects."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_delivery.rendering.limits import (
    EMAIL_SUBJECT_MAX_CHARS,
    GSM7_PART,
    UCS2_PART,
    WHATSAPP_PARAMETER_MAX_CHARS,
    Segments,
    _boundaries,
    email_subject,
    fcm_payload_bytes,
    grapheme_boundaries,
    sms_segments,
    split_sms,
    truncate,
    truncate_sms,
    whatsapp_parameter,
)

EMOJI = "\U0001f600"  # two UTF-16 code units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
FLAG_DE = "\U0001f1e9\U0001f1ea"
THUMB_DARK = "\U0001f44d\U0001f3ff"
E_ACUTE = "e\u0301"  # e + combining acute


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", Segments("gsm7", 1, 0)),
        ("a" * 160, Segments("gsm7", 1, 160)),
        ("a" * 161, Segments("gsm7", 2, 161)),
        ("a" * 153 * 2, Segments("gsm7", 2, 306)),
        ("a" * (153 * 2 + 1), Segments("gsm7", 3, 307)),
        ("a" * 153 * 3, Segments("gsm7", 3, 459)),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!¤¡ÄÖÑÜ§¿äöñüà", Segments("gsm7", 1, 43)),
        ("€" * 80, Segments("gsm7", 1, 160)),  # extension characters: two septets each
        ("€" * 81, Segments("gsm7", 2, 162)),  # 76 per part
        ("a" * 152 + "€" + "a" * 152, Segments("gsm7", 3, 306)),  # the escape pair is never split
        ("a" * 159 + "^", Segments("gsm7", 2, 161)),
        ("a" * 158 + "{", Segments("gsm7", 1, 160)),
        ("ж" * 70, Segments("ucs2", 1, 70)),
        ("ж" * 71, Segments("ucs2", 2, 71)),
        ("ж" * 67 * 2, Segments("ucs2", 2, 134)),
        ("ж" * (67 * 2 + 1), Segments("ucs2", 3, 135)),
        ("a" * 69 + "ж", Segments("ucs2", 1, 70)),  # one non-GSM character makes it all UCS-2
        ("a" * 70 + "ж", Segments("ucs2", 2, 71)),
        ("a" * 159 + "…", Segments("ucs2", 3, 160)),
        (EMOJI * 35, Segments("ucs2", 1, 70)),  # counted in UTF-16 code units
        (EMOJI * 36, Segments("ucs2", 2, 72)),
        ("a" * 66 + EMOJI + "a" * 10, Segments("ucs2", 2, 78)),
        ("a" * 65 + EMOJI * 34, Segments("ucs2", 2, 133)),
        ("a" * 66 + EMOJI * 34, Segments("ucs2", 3, 134)),  # a pair never straddles two parts
    ],
)
def test_sms_segments(text: str, segments: Segments) -> None:
    assert sms_segments(text) == segments


def test_parts_never_split_a_surrogate_pair_or_an_escape() -> None:
    parts = split_sms("a" * 66 + EMOJI + "a" * 10)
    assert parts == ("a" * 66, EMOJI + "a" * 10)
    parts = split_sms("a" * 152 + "€" + "a" * 10)
    assert parts == ("a" * 152, "€" + "a" * 10)


_SMS_ALPHABET = st.sampled_from(["a", "Z", " ", " ", "\n", "é", "€", "^", "ж", "…", EMOJI, FAMILY, E_ACUTE])
sms_texts = st.lists(_SMS_ALPHABET, max_size=500).map("".join)


@settings(max_examples=300)
@given(text=sms_texts, extra=_SMS_ALPHABET)
def test_segments_grow_with_the_text_and_parts_fit(text: str, extra: str) -> None:
    segments = sms_segments(text)
    assert sms_segments(text + extra).count >= segments.count
    assert sms_segments(text[: len(text) // 2]).count <= segments.count
    parts = split_sms(text)
    assert "".join(parts) == text
    assert len(parts) == segments.count
    if len(parts) > 1:
        capacity = GSM7_PART if segments.encoding == "gsm7" else UCS2_PART
        for part in parts:
            assert sms_segments(part).units <= capacity
            if segments.encoding == "ucs2":
                assert utf16_units(part) <= UCS2_PART


@settings(max_examples=300)
@given(text=sms_texts, max_segments=st.integers(1, 4))
def test_truncation_fits_and_keeps_gsm7(text: str, max_segments: int) -> None:
    cut = truncate_sms(text, max_segments)
    assert sms_segments(cut).count <= max_segments
    if sms_segments(text).count <= max_segments:
        assert cut == text
    else:
        assert cut.endswith("..." if sms_segments(text).encoding == "gsm7" else "…")
        assert len(cut) < len(text)
    if sms_segments(text).encoding == "gsm7":
        assert sms_segments(cut).encoding == "gsm7"


@pytest.mark.parametrize(
    ("filler", "ellipsis", "encoding", "single"),
    [("word ", "...", "gsm7", 160), ("слово ", "…", "ucs2", 70)],
)
def test_truncation_cuts_at_a_word(filler: str, ellipsis: str, encoding: str, single: int) -> None:
    text = filler * 100
    cut = truncate_sms(text, 1)
    segments = sms_segments(cut)
    assert (segments.encoding, segments.count) == (encoding, 1)
    assert single - len(filler) <= segments.units <= single
    assert cut.endswith(ellipsis)
    kept = cut.removesuffix(ellipsis)
    assert text.startswith(kept)
    assert text[len(kept)] == " "  # the cut falls between words


def test_truncation_refuses_zero_segments() -> None:
    with pytest.raises(ValueError, match="max_segments"):
        truncate_sms("a" * 200, 0)


@pytest.mark.parametrize(
    ("text", "max_chars", "cut"),
    [
        ("short", 10, "short"),
        ("Your parcel is on its way", 16, "Your parcel is…"),
        ("Supercalifragilistic", 10, "Supercali…"),
        ("ab" + FAMILY + "cd", 5, "ab…"),  # the ZWJ family stays whole: 5 code points
        ("ab" + FAMILY + "cd", 8, "ab" + FAMILY + "…"),
        ("a" + FLAG_DE + FLAG_DE + "b", 4, "a" + FLAG_DE + "…"),
        ("a" + FLAG_DE + FLAG_DE + "b", 5, "a" + FLAG_DE + "…"),
        ("ok" + THUMB_DARK + "x", 4, "ok…"),
        ("caf" + E_ACUTE + "s", 5, "caf…"),
    ],
)
def test_truncation_keeps_graphemes_whole(text: str, max_chars: int, cut: str) -> None:
    assert truncate(text, max_chars) == cut


@settings(max_examples=300)
@given(text=sms_texts, max_chars=st.integers(2, 120))
def test_truncation_is_a_grapheme_prefix(text: str, max_chars: int) -> None:
    cut = truncate(text, max_chars)
    assert len(cut) <= max_chars
    if cut != text:
        kept = cut.removesuffix("…")
        assert text.startswith(kept)
        assert len(kept) in grapheme_boundaries(text) or not kept.strip()


def test_fcm_payload_counts_utf8_bytes() -> None:
    assert fcm_payload_bytes("T", "B", {"k": "v"}) == len('{"notification":{"title":"T","body":"B"},"data":{"k":"v"}}')
    assert fcm_payload_bytes(None, "ж", {}) == len('{"notification":{"body":"ж"},"data":{}}'.encode())


@pytest.mark.parametrize(
    ("text", "parameter"),
    [
        ("Hello Ann", "Hello Ann"),
        ("Line one\nLine two\r\n\nLine three", "Line one · Line two · Line three"),
        ("tab\there", "tab here"),
        ("five     spaces  and\t \ttabs", "five spaces and tabs"),
        ("  padded  \n", "padded"),
    ],
)
def test_whatsapp_parameters_are_one_clean_line(text: str, parameter: str) -> None:
    assert whatsapp_parameter(text) == parameter


@given(text=st.text(alphabet=st.sampled_from(["a", " ", "\t", "\n", "\r", "\u2028", "ж", EMOJI]), max_size=3000))
def test_any_whatsapp_parameter_passes_the_rules(text: str) -> None:
    parameter = whatsapp_parameter(text)
    assert not any(ch in parameter for ch in "\n\r\t\u2028")
    assert "     " not in parameter
    assert len(parameter) <= WHATSAPP_PARAMETER_MAX_CHARS


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("Your order", "Your order"),
        ("Your order\r\nBcc: victim@example.com", "Your order Bcc: victim@example.com"),
        ("Hi\nX-Injected: 1\r\n\r\nbody", "Hi X-Injected: 1 body"),
        ("a\u2028b\u2029c\x85d\x00e\x0bf", "a b c d e f"),
        ("  spaced\t out  ", "spaced out"),
    ],
)
def test_email_subjects_cannot_inject_headers(text: str, subject: str) -> None:
    assert email_subject(text) == subject


@given(text=st.text(max_size=1500))
def test_any_email_subject_is_one_bounded_line(text: str) -> None:
    subject = email_subject(text)
    assert len(subject) <= EMAIL_SUBJECT_MAX_CHARS
    assert len(subject.splitlines()) <= 1
    assert not any(ch in subject for ch in "\r\n\x00")


@given(
    st.text(alphabet=st.characters(max_codepoint=127))
    | st.lists(st.sampled_from(["a", " ", "\r", "\n", "\r\n"])).map("".join)
)
def test_ascii_text_takes_the_short_way_to_the_same_boundaries(text: str) -> None:
    assert grapheme_boundaries(text) == _boundaries(text)
