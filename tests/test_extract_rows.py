"""The data set of (text, image, label) rows that `pidjax extract` reads: formats, checks, errors."""

import json

import numpy as np
import pytest

pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from pidjax.adapters._rows import load_image, read_rows  # noqa: E402
from pidjax.io import InputError  # noqa: E402


def _image(path, value=128):
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    (tmp_path / "img").mkdir()
    return [_image(tmp_path / "img" / f"{i}.png", 40 * i) for i in range(3)]


def test_csv_rows_resolve_images_and_type_labels(tmp_path, images):
    (tmp_path / "rows.csv").write_text("text,image,label,label.animal\n"
                                       "a cat,img/0.png,1,cat\na dog,img/1.png,0,dog\nthe cat,img/2.png,1,cat\n")
    rows = read_rows(tmp_path / "rows.csv")
    assert rows.texts == ["a cat", "a dog", "the cat"]
    assert rows.images == [p.resolve() for p in images]
    assert rows.label_sets["labels"].dtype == np.int64 and rows.label_sets["labels"].tolist() == [1, 0, 1]
    assert rows.label_sets["animal"].tolist() == ["cat", "dog", "cat"]


def test_folder_with_jsonl_and_image_folder_metadata(tmp_path, images):
    lines = [{"text": f"t{i}", "image": f"img/{i}.png", "label": "yes" if i % 2 else "no"} for i in range(3)]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    rows = read_rows(tmp_path)
    assert rows.label_sets["labels"].tolist() == ["no", "yes", "no"] and rows.source.name == "rows.jsonl"
    meta = tmp_path / "hf"
    meta.mkdir()
    _image(meta / "x.png")
    (meta / "metadata.csv").write_text("file_name,text\nx.png,hello\n")
    rows = read_rows(meta)
    assert rows.images == [(meta / "x.png").resolve()] and rows.label_sets == {}


@pytest.mark.parametrize("content, message", [
    ("text,image,label\na,img/0.png,1\nb,img/missing.png,0\n", "row 2: image .*missing.png does not exist"),
    ("text,label\na,1\n", "needs the columns text and image"),
    ("text,image,label\n,img/0.png,1\n", "row 1 has no text"),
    ("text,image,label\na,img/0.png,\n", "row 1 has no label"),
    ("text,image,label\n", "has no rows"),
    ("text,image,label\na cat, sitting,img/0.png,1\n", "row 1 has 4 fields but the header has 3; quote texts"),
])
def test_bad_rows_name_the_file_and_row(tmp_path, images, content, message):
    (tmp_path / "rows.csv").write_text(content)
    with pytest.raises(InputError, match=message):
        read_rows(tmp_path / "rows.csv")


def test_bad_folders_and_files(tmp_path, images):
    with pytest.raises(InputError, match="no such data set"):
        read_rows(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="holds none of"):
        read_rows(tmp_path / "img")
    (tmp_path / "rows.csv").write_text("text,image\na,img/0.png\n")
    (tmp_path / "rows.jsonl").write_text('{"text": "a", "image": "img/0.png"}\n')
    with pytest.raises(InputError, match="keep one"):
        read_rows(tmp_path)
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match="line 1 is not JSON"):
        read_rows(tmp_path / "bad.jsonl")


def test_unreadable_image_names_the_row(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(InputError, match="row 7: cannot read image"):
        load_image(broken, 7)
    assert load_image(_image(tmp_path / "ok.png", 10), 1).mode == "RGB"


def test_byte_order_marks_quoted_line_breaks_and_raw_line_separators_are_read(tmp_path, images):
    (tmp_path / "bom.csv").write_text('\ufefftext,image,label\n"a cat,\nsitting",img/0.png,1\n', encoding="utf-8")
    rows = read_rows(tmp_path / "bom.csv")
    assert rows.texts == ["a cat,\nsitting"] and rows.label_sets["labels"].tolist() == [1]
    (tmp_path / "sep.jsonl").write_text(json.dumps({"text": "a\u2028b", "image": "img/0.png"}, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    assert read_rows(tmp_path / "sep.jsonl").texts == ["a\u2028b"]
