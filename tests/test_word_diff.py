"""Fast unit tests of the word diff a proposal page shows between versions (server/agreement_views.py)."""

from __future__ import annotations

from server.agreement_views import CONTEXT, DiffLine, text_diff


def _kinds(lines: list[DiffLine]) -> list[str]:
    return [line.kind for line in lines]


def test_the_same_text_has_no_diff():
    text = "We share the land.\nWe share the water."
    assert text_diff(text, text) == []


def test_a_changed_word_is_struck_and_inserted_in_its_line():
    [line] = text_diff("We share the land.", "We share the river.")
    assert (line.kind, line.old_no, line.new_no) == ("change", 1, 1)
    assert line.segments == [("We share the ", None), ("land", "del"), ("river", "ins"), (".", None)]


def test_words_added_at_the_end_of_a_line_are_inserted():
    [line] = text_diff("one two three", "one 2 three four")
    assert line.segments == [("one ", None), ("two", "del"), ("2", "ins"), (" three", None), (" four", "ins")]


def test_an_added_line_is_numbered_in_the_new_text_only():
    lines = text_diff("a\nb", "a\nb\nc")
    assert _kinds(lines) == ["same", "same", "add"]
    assert (lines[-1].segments, lines[-1].old_no, lines[-1].new_no) == ([("c", "ins")], None, 3)


def test_a_removed_line_is_numbered_in_the_old_text_only():
    lines = text_diff("a\nb\nc", "a\nc")
    assert _kinds(lines) == ["same", "del", "same"]
    assert (lines[1].segments, lines[1].old_no, lines[1].new_no) == ([("b", "del")], 2, None)
    assert (lines[2].old_no, lines[2].new_no) == (3, 2)


def test_a_rewritten_block_pairs_lines_and_adds_the_rest():
    lines = text_diff("l1\nl2", "L1\nL2\nL3")
    assert _kinds(lines) == ["change", "change", "add"]
    assert lines[0].segments == [("l1", "del"), ("L1", "ins")]


def test_unchanged_lines_far_from_a_change_fold_into_gaps():
    old = "\n".join("abcdefgh")
    new = old.replace("e", "E e")
    lines = text_diff(old, new)
    assert _kinds(lines) == ["gap"] + ["same"] * CONTEXT + ["change"] + ["same"] * CONTEXT + ["gap"]
    assert [line.new_no for line in lines if line.kind != "gap"] == [3, 4, 5, 6, 7]
    assert lines[1 + CONTEXT].segments == [("E ", "ins"), ("e", None)]


def test_punctuation_and_spaces_are_words_of_their_own():
    [line] = text_diff("Yes, we agree.", "Yes; we agree!")
    assert line.segments == [
        ("Yes", None),
        (",", "del"),
        (";", "ins"),
        (" we agree", None),
        (".", "del"),
        ("!", "ins"),
    ]
