"""Text positions are counted in the unit pycrdt counts in: a pycrdt upgrade that changes it
(yrs also offers UTF-16 and code points) fails here first, before any edit lands elsewhere."""

from __future__ import annotations

import pytest
from pycrdt import Doc, XmlFragment, XmlText

from backend.collab.core.text_positions import text_length

SAMPLES = ["a", "é", "e\u0301", "漢", "🚀", "👩\u200d💻", "\U0001d518", "שלום", "🇫🇷", "👍🏽"]


def _text(value: str = "") -> XmlText:
    fragment = Doc().get("default", type=XmlFragment)
    text: XmlText = fragment.children.append(XmlText(value))
    return text


@pytest.mark.parametrize("sample", SAMPLES)
def test_text_length_is_the_length_pycrdt_gives(sample: str) -> None:
    assert text_length(sample) == len(_text(sample)) == len(sample.encode())


@pytest.mark.parametrize("sample", SAMPLES)
def test_an_insert_and_a_format_at_text_length_land_after_the_sample(sample: str) -> None:
    text = _text(f"<{sample}>")
    end = text_length(f"<{sample}")
    text.insert(end, "|")
    text.format(text_length("<"), end, {"bold": {}})
    assert text.diff() == [("<", None), (sample, {"bold": {}}), ("|>", None)]
