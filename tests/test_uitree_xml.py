"""The UI tree is the phone's text: XML tricks in it are refused, never expanded or followed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoglm_agent.device.adb import UiTreeError, focused_text_length, parse_ui_xml
from autoglm_agent.errors import AutoGLMError
from autoglm_agent.tools import condense_ui_tree

PLAIN = (
    '<?xml version="1.0" encoding="UTF-8"?><hierarchy rotation="0">'
    '<node class="android.widget.EditText" text="{text}" focused="true" focusable="true" '
    'clickable="true" bounds="[0,0][720,100]" visible-to-user="true"/></hierarchy>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + ']><hierarchy><node text="&lol9;" focused="true" class="android.widget.EditText" '
    'bounds="[0,0][720,100]"/></hierarchy>'
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE h [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<hierarchy><node text="&x;" bounds="[0,0][720,100]"/></hierarchy>'
)


@pytest.mark.parametrize("xml", [LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_entity_tricks_are_refused(xml: str) -> None:
    with pytest.raises(UiTreeError):
        parse_ui_xml(xml)
    assert focused_text_length(xml) is None  # the typing path just does not know the length
    with pytest.raises(AutoGLMError, match="forbidden XML construct"):
        condense_ui_tree(xml)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60))
def test_any_screen_text_survives_as_text(text: str) -> None:
    from xml.sax.saxutils import quoteattr

    xml = PLAIN.replace('"{text}"', quoteattr(text))
    assert focused_text_length(xml) == len(text)
