"""dataset_info.json: exact entries, order kept, conflicts, detection, lint, and concurrent updates."""

import json
import multiprocessing
import os
import threading

import pytest

from conftest import fixture
from prefkit import convert, register
from prefkit.errors import RegistryError
from prefkit.registry.info import detect_entry, load, update
from prefkit.registry.lint import check

SEED_DPO_ENTRY = {"file_name": "mine.json", "formatting": "sharegpt", "ranking": True,
                  "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}


def test_convert_registers_the_seed_notes_entry_exactly(tmp_path):
    convert([fixture("dpo_zh_demo.sample.json")], str(tmp_path / "mine.json"), register="mine", dataset_dir=str(tmp_path))
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info == {"mine": SEED_DPO_ENTRY}
    assert list(info["mine"]) == ["file_name", "formatting", "ranking", "columns"]


def test_other_entries_and_order_are_kept_and_conflicts_refused(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"zeta": {"hf_hub_url": "a/b"}, "alpha": {"file_name": "x.json"}}))
    (tmp_path / "mine.json").write_text("[]")
    assert update(str(tmp_path), "mine", SEED_DPO_ENTRY) == "added"
    assert update(str(tmp_path), "mine", SEED_DPO_ENTRY) == "unchanged"
    assert list(load(str(tmp_path))) == ["zeta", "alpha", "mine"]
    other = {**SEED_DPO_ENTRY, "ranking": False}
    with pytest.raises(RegistryError, match="a different entry named 'mine' exists"):
        update(str(tmp_path), "mine", other)
    assert update(str(tmp_path), "mine", other, force=True) == "replaced"
    assert list(load(str(tmp_path))) == ["zeta", "alpha", "mine"] and load(str(tmp_path))["mine"]["ranking"] is False
    with pytest.raises(RegistryError, match="'my data' has ' '"):
        update(str(tmp_path), "my data", SEED_DPO_ENTRY)


def test_files_outside_the_dataset_dir_and_broken_registry(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(RegistryError, match="outside the dataset dir"):
        convert([fixture("dpo_zh_demo.sample.json")], str(tmp_path / "out.json"), register="x", dataset_dir=str(data))
    assert not (tmp_path / "out.json").exists()  # refused before any work
    (data / "dataset_info.json").write_text("{\n  'bad': 1\n}")
    with pytest.raises(RegistryError, match="line 2: invalid JSON"):
        load(str(data))


@pytest.mark.parametrize("name, expected", [
    ("kto_en_demo.sample.json", {"formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "label"},
                                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                          "assistant_tag": "assistant", "system_tag": "system"}}),
    ("dpo_en_demo.sample.json", {"formatting": "sharegpt", "ranking": True,
                                 "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}),
])
def test_register_detects_entries_for_foreign_files(tmp_path, name, expected):
    target = tmp_path / name
    target.write_bytes(open(fixture(name), "rb").read())
    entry = register("d", str(target), str(tmp_path))
    assert entry == {"file_name": name, **expected}
    assert check(str(tmp_path)) == []


def test_register_refuses_an_undetectable_file(tmp_path):
    target = tmp_path / "sft.json"
    target.write_bytes(open(fixture("sharegpt_sft.sample.json"), "rb").read())
    with pytest.raises(RegistryError, match="cannot tell the format"):
        detect_entry(str(target), str(tmp_path))


def test_check_finds_each_kind_of_problem(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"conversations": [{"role": "user", "content": "q"}],
                                                  "chosen": {}, "rejected": {}}]))
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "ok_hub": {"hf_hub_url": "org/name", "ranking": True},
        "typo": {"file_name": "a.json", "formating": "sharegpt"},
        "missing": {"file_name": "nope.json"},
        "columns": {"file_name": "a.json", "formatting": "sharegpt", "ranking": True,
                    "columns": {"messages": "conversations", "chosen": "best", "rejected": "rejected"}},
        "escape": {"file_name": "../x.json"},
        "bad_type": {"file_name": "a.json", "ranking": "yes"},
    }))
    problems = "\n".join(check(str(tmp_path)))
    assert "typo: Additional properties are not allowed ('formating' was unexpected)" in problems
    assert "missing: file_name 'nope.json' does not exist" in problems
    assert "column 'best' (columns.chosen) is not in the first 1 records" in problems
    assert "tags.role_tag is 'from' but messages have keys content, role" in problems
    assert "escape: file_name '../x.json' points outside the dataset dir" in problems
    assert "bad_type.ranking: 'yes' is not of type 'boolean'" in problems
    assert "ok_hub" not in problems


def _register_many(dataset_dir: str, worker: int, count: int) -> None:
    for i in range(count):
        name = f"w{worker}_{i}"
        update(dataset_dir, name, {**SEED_DPO_ENTRY, "file_name": f"{name}.json"})


def test_concurrent_registrations_all_land_and_the_file_is_always_valid(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"keep": {"hf_hub_url": "a/b"}}))
    stop = threading.Event()
    broken: list[str] = []

    def watch() -> None:  # read the file continuously while the writers run
        while not stop.is_set():
            try:
                json.loads((tmp_path / "dataset_info.json").read_text())
            except json.JSONDecodeError as err:
                broken.append(str(err))

    watcher = threading.Thread(target=watch)
    watcher.start()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_register_many, args=(str(tmp_path), w, 10)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    stop.set()
    watcher.join()
    assert all(p.exitcode == 0 for p in procs)
    info = load(str(tmp_path))
    assert len(info) == 61 and list(info)[0] == "keep"
    assert broken == []
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
