"""One lister for images and label maps, one size parser."""

from __future__ import annotations

import pytest

from imsynth.data.listing import list_images, list_label_maps
from imsynth.utils.sizes import parse_size


def _names(listing):
    return [(found.path.name, found.kind) for found in listing.maps]


def test_label_maps_prefer_label_ids_per_scene_and_skip_hidden_and_photos(tmp_path):
    for name in ("a_gtFine_labelIds.png", "a_gtFine_color.png", "a_leftImg8bit.png", ".hidden.png", "b.GIF"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c.png").write_bytes(b"")
    listing = list_label_maps(tmp_path)
    # a labelIds map replaces its own scene's colour map only, never the other maps (issue 15 item 2)
    assert _names(listing) == [("a_gtFine_labelIds.png", "ids"), ("b.GIF", "auto")]
    assert {(p.name, reason.split(",")[0]) for p, reason in listing.skipped} == {
        ("a_gtFine_color.png", "the scene's labelIds map is used instead"),
        ("a_leftImg8bit.png", "a photo"),
    }
    (tmp_path / "a_gtFine_labelIds.png").unlink()
    assert _names(list_label_maps(tmp_path)) == [("a_gtFine_color.png", "color"), ("b.GIF", "auto")]
    assert _names(list_label_maps(tmp_path / "b.GIF")) == [("b.GIF", "auto")]
    assert [p.name for p in list_images(tmp_path)] == ["a_gtFine_color.png", "a_leftImg8bit.png", "b.GIF"]
    with pytest.raises(FileNotFoundError, match="no such label map"):
        list_label_maps(tmp_path / "absent")


@pytest.mark.parametrize(("text", "size"), [("256x512", (256, 512)), (" 4 X 8 ", (4, 8))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "message"), [("256", "HEIGHTxWIDTH"), ("axb", "HEIGHTxWIDTH"), ("0x8", "positive")])
def test_parse_size_explains_bad_sizes(text, message):
    with pytest.raises(ValueError, match=message):
        parse_size(text)
