"""What the Python API takes (prefkit/api_sources.py): every other input is one TypeError / ValueError saying what is
taken, naming the row and field of a bad row or value; what converts without loss is converted; images that rows
carry inside themselves end up as files that exist."""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
from pathlib import Path

import pytest

import prefkit
from prefkit.errors import PrefkitError

datasets = pytest.importorskip("datasets")

VOTES = [{"prompt": f"Question {i}?", "response_a": f"answer a{i}", "response_b": f"answer b{i}",
          "winner": ["model_a", "model_b"][i % 2]} for i in range(4)]
TAKES = "expected a path, a list of paths, rows (a list or other iterable of dicts), a datasets.Dataset or a " \
        "pandas.DataFrame"


def _png(colour: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(out, "PNG")
    return out.getvalue()


def _image_row(image: object) -> dict:
    return {"conversations": [{"from": "human", "value": "<image>What colour is it?"}], "images": [image],
            "chosen": {"from": "gpt", "value": "Red."}, "rejected": {"from": "gpt", "value": "Blue."}}


@pytest.mark.parametrize("source,says", [
    (None, f"{TAKES}; got None"),
    (42, f"{TAKES}; got int"),
    (VOTES[0], f"{TAKES}; got one dict: give a list of rows ([row])"),
    (b"votes.jsonl", f"{TAKES}; got bytes"),
    ([VOTES[0], None], "row 1: expected a dict (one row), got None"),
    ("generator", "row 1: expected a dict (one row), got str"),
    ([None, VOTES[0]], "item 0 of the list: expected a dict (one row) or a path, got None"),
    (["a.jsonl", 3], "item 1 of the list of paths: expected a path, got int"),
], ids=["None", "int", "dict", "bytes", "row-None", "generator-str", "first-None", "paths-int"])
@pytest.mark.parametrize("api", ["convert", "validate"])
def test_any_other_input_is_one_type_error_saying_what_is_taken(source, says, api):
    if source == "generator":
        source = (row for row in [VOTES[0], "text"])
    with pytest.raises(TypeError) as caught:
        getattr(prefkit, api)(source, **({"fmt": "pairwise"} if api == "convert" else {}))
    assert isinstance(caught.value, PrefkitError)  # the CLI's one-line errors, too
    assert says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("source", [[], (), iter([]), "empty-frame", "empty-dataset"])
def test_no_rows_is_one_value_error(source):
    if source == "empty-frame":
        pd = pytest.importorskip("pandas")
        source = pd.DataFrame(columns=["prompt"])
    elif source == "empty-dataset":
        source = datasets.Dataset.from_dict({"prompt": []})
    with pytest.raises(ValueError, match="^no rows: give "):
        prefkit.convert(source, fmt="pairwise")


def test_a_generator_and_a_data_frame_convert_as_the_list_does():
    pd = pytest.importorskip("pandas")
    expected = prefkit.convert(VOTES, fmt="pairwise").dataset.to_list()
    assert prefkit.convert((row for row in VOTES), fmt="pairwise").dataset.to_list() == expected
    assert prefkit.convert(pd.DataFrame(VOTES), fmt="pairwise").dataset.to_list() == expected
    assert prefkit.convert(tuple(VOTES), fmt="pairwise").dataset.to_list() == expected
    assert prefkit.validate(pd.DataFrame(prefkit.convert(VOTES, fmt="pairwise").dataset.to_list())).records == 4


def test_an_iterable_dataset_converts_and_a_dataset_dict_asks_for_one_split():
    expected = prefkit.convert(VOTES, fmt="pairwise").dataset.to_list()
    iterable = datasets.Dataset.from_list(VOTES).to_iterable_dataset()
    assert prefkit.convert(iterable, fmt="pairwise").dataset.to_list() == expected
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(VOTES)})
    with pytest.raises(TypeError, match=r"got a DatasetDict of splits \(train\): give one, e.g. dataset\['train'\]$"):
        prefkit.convert(splits, fmt="pairwise")


def test_what_converts_without_loss_is_converted():
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    rows = [{**row, "score": np.int64(i), "weight": np.float32(0.5), "ids": np.array([1, 2]), "pair": (1, 2),
             "when": datetime.datetime(2024, 5, 1, 12, 0), "day": datetime.date(2024, 5, 1), "missing": pd.NA,
             "nan": float("nan")} for i, row in enumerate(VOTES)]
    result = prefkit.convert(rows, fmt="pairwise")
    assert result.report.accepted == 4 and not result.rejects
    assert result.dataset.to_list() == prefkit.convert(VOTES, fmt="pairwise").dataset.to_list()


@pytest.mark.parametrize("value,field,says", [
    ({"x"}, "tags", "field 'tags' holds a set (its order is not defined); give a list"),
    (b"raw", "tags", "field 'tags' holds bytes; give text (str), or an image's bytes in the images column"),
    ({"deep": [1, {"x": object()}]}, "meta", "field 'meta.deep[1].x' holds a object; give text, numbers"),
    ({1: "a"}, "meta", "field 'meta' holds a key 1 (int); keys must be text"),
    (1 << 70, "big", "field 'big' holds an integer past 64 bits"),
], ids=["set", "bytes", "object", "int-key", "big-int"])
def test_a_value_json_cannot_hold_is_named_with_its_type_row_and_field(value, field, says):
    rows = [VOTES[0], {**VOTES[1], field: value}]
    with pytest.raises(TypeError) as caught:
        prefkit.convert(rows, fmt="pairwise")
    assert str(caught.value).startswith("row 1: cannot be written as JSON: ") and says in str(caught.value)
    assert "decoded images" not in str(caught.value)  # no fixed advice that has nothing to do with the value


def test_a_decoded_image_and_bytes_that_are_no_image_are_named():
    from PIL import Image

    with pytest.raises(TypeError, match=r"row 0: cannot be written as JSON: field 'images\[0\]' holds a decoded "
                                        r"image \(PIL\.Image\); give its path"):
        prefkit.convert([_image_row(Image.new("RGB", (2, 2)))], fmt="sharegpt")
    with pytest.raises(ValueError, match=r"row 0: field 'images\[0\]': the bytes are no PNG, JPEG"):
        prefkit.convert([_image_row({"bytes": b"not an image", "path": None})], fmt="sharegpt")


def _keep(result):
    if result.images_dir:
        assert Path(result.images_dir).is_dir()
        shutil.rmtree(result.images_dir)


def test_a_dataset_with_a_decoded_image_column_converts_to_image_files_that_exist():
    png = _png()
    dataset = datasets.Dataset.from_list([_image_row({"bytes": png, "path": None})])
    dataset = dataset.cast_column("images", datasets.Sequence(datasets.Image()))
    assert not isinstance(dataset[0]["images"][0], dict)  # decoded: a PIL image
    result = prefkit.convert(dataset, fmt="sharegpt")
    (path,) = result.dataset[0]["images"]
    assert os.path.isabs(path) and Path(path).read_bytes() == png
    assert os.path.dirname(path) == result.images_dir and result.report.accepted == 1
    assert prefkit.validate(dataset).findings.by_level("error") == []  # validate opens the same bytes
    _keep(result)


@pytest.mark.parametrize("how", ["bytes-in-list", "data-url", "file-with-data-url"])
def test_images_rows_carry_inside_themselves_end_up_as_files_that_exist(tmp_path, how):
    import base64

    png = _png((0, 0, 255))
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    rows = [_image_row(png if how == "bytes-in-list" else url)]
    source: object = rows
    if how == "file-with-data-url":
        source = tmp_path / "pairs.json"
        source.write_text(json.dumps(rows))
    result = prefkit.convert(source, fmt="sharegpt")
    (path,) = result.dataset[0]["images"]
    assert Path(path).read_bytes() == png and path.startswith(result.images_dir)
    _keep(result)


def test_in_memory_images_with_an_output_path_go_beside_the_output(tmp_path):
    png = _png()
    dataset = datasets.Dataset.from_list([_image_row({"bytes": png, "path": None})])
    dataset = dataset.cast_column("images", datasets.Sequence(datasets.Image()))
    report = prefkit.convert(dataset, str(tmp_path / "pairs.json"), fmt="sharegpt")
    assert report.accepted == 1
    (row,) = json.loads((tmp_path / "pairs.json").read_text())
    assert (tmp_path / row["images"][0]).read_bytes() == png


def test_rows_without_images_keep_no_folder():
    assert prefkit.convert(VOTES, fmt="pairwise").images_dir is None


@pytest.mark.parametrize("call,says", [
    (lambda: prefkit.convert(VOTES, 3, fmt="pairwise"), "convert(output=...): expected a path or text"),
    (lambda: prefkit.validate(VOTES, dataset_dir=1), "validate(dataset_dir=...): expected a path or text"),
    (lambda: prefkit.register("x", None, "."), "register(file=...): expected a path or text (str or os.PathLike), "
                                               "got None"),
    (lambda: prefkit.generate(None, "o.jsonl", base_url="http://127.0.0.1:9", model="m"),
     "generate(prompts=...): expected a path or text"),
    (lambda: prefkit.judge("c.jsonl", None, judge_url="http://127.0.0.1:9", judge_model="m"),
     "judge(output=...): expected a path or text"),
    (lambda: prefkit.train(3, ".", "m", dry_run=True), "train(dataset=...): expected a path or text"),
], ids=["convert", "validate", "register", "generate", "judge", "train"])
def test_every_exported_function_names_an_argument_of_the_wrong_type(call, says):
    with pytest.raises(TypeError, match=r"^" + says.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_a_path_like_is_taken_wherever_a_path_is(tmp_path):
    source = tmp_path / "votes.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in VOTES))
    report = prefkit.convert(source, tmp_path / "out.json", fmt="pairwise")
    assert report.accepted == 4 and (tmp_path / "out.json").exists()
    assert prefkit.register("votes", tmp_path / "out.json", tmp_path)["file_name"] == "out.json"
