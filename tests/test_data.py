"""Bundled digits and synthetic two-view tasks: shapes, views, splits, batches, licence files."""

from importlib import resources

import numpy as np
import pytest

from pidjax.data import batches, load_digits_views, synthetic_views, train_test_split


def test_digits_views_are_the_two_halves_of_each_image():
    tb, lr = load_digits_views("top_bottom"), load_digits_views("left_right")
    assert tb.x1.shape == (1797, 4, 8) and lr.x1.shape == (1797, 8, 4) and tb.n_classes == 10
    image = np.concatenate([tb.x1, tb.x2], axis=1)
    np.testing.assert_array_equal(image, np.concatenate([lr.x1, lr.x2], axis=2))
    assert image.min() == 0.0 and image.max() == 1.0
    assert np.bincount(tb.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_data_files_ship_with_licence_and_citation():
    folder = resources.files("pidjax.data")
    text = folder.joinpath("LICENSE-digits.txt").read_text()
    assert "CC BY 4.0" in text and "10.24432/C50P49" in text and "BSD 3-Clause" in text
    assert folder.joinpath("README.md").is_file()


def test_split_is_stratified_disjoint_and_seeded():
    data = load_digits_views()
    train, test = train_test_split(data, 0.25, seed=3)
    again, _ = train_test_split(data, 0.25, seed=3)
    assert train.n_samples + test.n_samples == data.n_samples
    np.testing.assert_array_equal(train.y, again.y)
    assert np.all(np.abs(np.bincount(test.y) - 0.25 * np.bincount(data.y)) <= 1)


def test_batches_cover_every_example_once():
    data = load_digits_views()
    got = list(batches(data, 500))
    assert [len(b["y"]) for b in got] == [500, 500, 500, 297]
    np.testing.assert_array_equal(np.concatenate([b["y"] for b in got]), data.y)
    shuffled = np.concatenate([b["y"] for b in batches(data, 500, shuffle=True, seed=1)])
    assert sorted(shuffled.tolist()) == sorted(data.y.tolist())


def test_synthetic_views_shape_tokens_and_labels():
    data = synthetic_views("synergy", 200, tokens=4, dim=8)
    assert data.x1.shape == (200, 4, 8) and data.n_classes == 2 and set(np.unique(data.y)) <= {0, 1}


@pytest.mark.parametrize("call", [lambda: load_digits_views("diagonal"),
                                  lambda: train_test_split(load_digits_views(), 1.5),
                                  lambda: next(batches(load_digits_views(), 0)),
                                  lambda: synthetic_views("nonsense")])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
