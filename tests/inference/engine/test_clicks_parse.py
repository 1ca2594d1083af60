"""Clicks on a stack: ``Z,ROW,COL,+`` (one slice per object)."""

from __future__ import annotations

import pytest

from napari_fbrs.inference.engine.clicks import Click, parse_plane_clicks


def test_plain_clicks_have_no_slice() -> None:
    assert parse_plane_clicks("3,4,+;5,6,-") == (None, (Click(3, 4, True), Click(5, 6, False)))


def test_stack_clicks_name_their_slice() -> None:
    assert parse_plane_clicks("2,3,4,+; 2,5,6,-") == (2, (Click(3, 4, True), Click(5, 6, False)))


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,3,4,+;2,5,6,-", "one slice"), ("x,3,4,+", "slice number"), ("-1,3,4,+", ">= 0")],
)
def test_bad_stack_clicks_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_plane_clicks(text)
