"""Benchmark decontamination (--decontaminate): planted copies of benchmark items are found, topic-alike prompts are
not, the threshold and the short-item rule hold exactly, and convert, validate, the CLI and Ray agree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from importlib import resources

import pytest
from typer.testing import CliRunner

from conftest import ROOT, write_jsonl
from prefkit.cli import app
from prefkit.hygiene import BUILTIN, Decontaminator, Item, load, load_items, words
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate
from prefkit.records import KtoExample, Message, Provenance

SETS = ("mt-bench", "arena-hard", "arena-hard-v2", "ifeval")
PER_SET = 5  # items planted from each built-in set
VARIANTS = ("exact", "edited", "embedded", "truncated")


def planted_items() -> list[Item]:
    """The first PER_SET items of each set with 50-300 words (a 60% cut keeps over half of their 8-grams) whose text
    survives upper-casing (no ß)."""
    chosen = []
    for name in SETS:
        fit = [i for i in load_items(name) if 50 <= len(words(i.text)) <= 300 and i.text.upper().lower() == i.text.lower()]
        chosen += fit[:PER_SET]
    return chosen


def variant(item: Item, how: str) -> str:
    text = item.text
    if how == "edited":  # case, punctuation, spacing and a prefix
        return "QUESTION:  " + re.sub(r"\s+", "   ", text.upper()).replace(",", " ;").replace(".", "!?")
    if how == "embedded":
        return f"My manager sent me this task and I am stuck.\n\n{text}\n\nPlease help, it is due tomorrow morning."
    if how == "truncated":
        cut = text.split()
        return " ".join(cut[: int(len(cut) * 0.6)])
    return text


def topic_only(item: Item) -> str:
    """A prompt on the item's topic: six of its content words, in another order and other sentences."""
    content = list(dict.fromkeys(w for w in words(item.text) if len(w) >= 5 and w.isalpha()))[:6][::-1]
    a, b, c, d, e, f = (content + ["python", "travel", "history", "music", "garden", "river"])[:6]
    return f"Quick question on {a} and {b}: how would {c} compare with {d}, given {e} or {f}?"


HANDWRITTEN = ["Tell me about travel in Hawaii and its cultural attractions.",  # mt-bench:81's topic
               "What is the Pythagorean theorem used for in carpentry?",  # near mt-bench:99 ("Prove the ...")
               "Can you parallelize this loop over the files for me?",  # near mt-bench:121 ("Can you parallelize it?")
               "Write a melody in ABC notation.",  # arena-hard's first item is "Use ABC notation to write a melody ..."
               "Summarise the history of the Roman Empire without using any commas."]  # IFEval-style constraint


def pair(user: str | list[str], chosen: str = "Sure, here it is.", rejected: str = "No.") -> dict:
    """A sharegpt ranking row; a list of user turns gets short assistant turns between them."""
    turns = [user] if isinstance(user, str) else user
    conversation = []
    for i, turn in enumerate(turns):
        conversation += ([{"from": "gpt", "value": f"Answer {i}."}] if i else []) + [{"from": "human", "value": turn}]
    return {"conversations": conversation, "chosen": {"from": "gpt", "value": chosen},
            "rejected": {"from": "gpt", "value": rejected}}


@pytest.fixture(scope="module")
def everything() -> Decontaminator:
    return load(",".join(SETS))


@pytest.fixture(scope="module")
def planted_file(tmp_path_factory) -> tuple[str, dict[int, str], int]:
    """Planted copies (every variant of every planted item) and topic-only prompts, interleaved: (path, {index: item
    name} of the planted rows, number of topic-only rows)."""
    rows, planted = [], {}
    for item in planted_items():
        for how in VARIANTS:
            planted[len(rows)] = item.name
            rows.append(pair(variant(item, how)))
        rows.append(pair(topic_only(item)))
    rows += [pair(text) for text in HANDWRITTEN]
    path = write_jsonl(tmp_path_factory.mktemp("planted") / "planted.jsonl", rows)
    return path, planted, len(rows) - len(planted)


def test_the_builtin_sets_ship_in_the_package_with_their_licences():
    folder = resources.files("prefkit") / "benchmarks"
    counts = {name: (folder / BUILTIN[name][0]).read_text(encoding="utf-8").count("\n") for name in SETS}
    assert counts == {"mt-bench": 160, "arena-hard": 500, "arena-hard-v2": 750, "ifeval": 541}
    assert len({i.id for i in load_items("mt-bench")}) == 80  # both turns of each question, under its id
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    assert notice.count("Apache-2.0") == 4 and "CC BY-NC 4.0" in notice
    assert "alpaca" not in " ".join(BUILTIN)  # AlpacaEval (CC BY-NC) is a file the user passes, never built in


def test_planted_copies_are_flagged_and_topic_only_prompts_are_not(everything, planted_file):
    path, planted, topical = planted_file
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    found = {i: [m.item.name for m in everything.matches([t["value"] for t in r["conversations"] if t["from"] == "human"])]
             for i, r in enumerate(rows)}
    flagged = {i for i, names in found.items() if names}
    assert (len(planted), topical) == (80, 25)  # 4 sets x 5 items x 4 variants; 20 derived + 5 handwritten
    assert len(flagged & set(planted)) == 80  # recall: every planted copy
    assert flagged - set(planted) == set()  # precision: no topic-only prompt
    assert all(planted[i] in found[i] for i in planted)  # and each names the item planted


def test_convert_rejects_contaminated_records_naming_the_item(everything, planted_file, tmp_path):
    path, planted, _ = planted_file
    report = convert(path, str(tmp_path / "o.jsonl"), fmt="sharegpt", decontaminate=everything)
    rejects = [json.loads(line) for line in open(tmp_path / "o.rejects.jsonl", encoding="utf-8")]
    assert {r["index"] for r in rejects} == set(planted) and {r["reason"] for r in rejects} == {"contaminated"}
    assert all(planted[r["index"]] in r["message"] for r in rejects)
    assert rejects[0]["message"] == f"benchmark contamination: the user turns hold 100% of the word 8-grams of {planted[0]}"
    assert report.rejected_by_reason == {"contaminated": 80}
    assert report.contamination == {"mt-bench": 20, "arena-hard": 20, "arena-hard-v2": 20, "ifeval": 20}
    assert report.accepted == 25


def test_the_threshold_is_half_of_the_item_ngrams():
    text = " ".join(f"w{i}" for i in range(108))  # 108 distinct words: 101 8-grams
    d = Decontaminator([Item("t", "1", text)])
    head = lambda k: [" ".join(text.split()[:k])]  # noqa: E731  the first k words hold k - 7 8-grams
    assert d.matches(head(57)) == []  # 50 of 101: 49.5%
    assert [(m.item.name, round(m.share, 4)) for m in d.matches(head(58))] == [("t:1", 0.505)]  # 51 of 101
    assert Decontaminator(d.items, ngram=12).matches(head(58)) == []  # 47 of 97 12-grams
    assert [round(m.share, 4) for m in Decontaminator(d.items, ngram=12).matches(head(61))] == [0.5155]  # 50 of 97
    assert Decontaminator(d.items, overlap=0.4).matches(head(47)) == []  # 40 of 101
    assert len(Decontaminator(d.items, overlap=0.4).matches(head(48))) == 1  # 41 of 101


def test_a_short_item_matches_only_the_equal_user_text(everything):
    assert [m.item.name for m in everything.matches(["can you PARALLELIZE it?!"])] == ["mt-bench:121"]
    assert everything.matches(["Can you parallelize it? It is the loop in main.py that reads every file."]) == []
    assert everything.matches(["Sort these files by size.", "Can you parallelize it?"]) == []  # all user turns
    found = everything.matches(["Prove the Pythagorean theorem."])
    assert [(m.item.name, m.share, m.equal) for m in found] == [("mt-bench:99", 1.0, True)]


def test_a_record_contaminated_in_its_first_user_turn_is_flagged(everything, tmp_path):
    item = load_items("ifeval")[0]
    rows = [pair([item.text, "Thanks. Now write a limerick about my cat instead."]),
            pair(["Hi there, how are you doing today?", "Great. Can you recommend a good book?"])]
    convert(write_jsonl(tmp_path / "multi.jsonl", rows), str(tmp_path / "o.jsonl"), fmt="sharegpt", decontaminate=everything)
    rejects = [json.loads(line) for line in open(tmp_path / "o.rejects.jsonl", encoding="utf-8")]
    assert [(r["index"], r["reason"]) for r in rejects] == [(0, "contaminated")]
    assert len(rejects[0]["record"]["prompt"]) == 3 and "ifeval:1000" in rejects[0]["message"]


def test_decontaminate_answers_checks_chosen_rejected_and_kto_completions():
    item = load_items("arena-hard")[0]
    plain, answers = load("arena-hard"), load("arena-hard", answers=True)
    assert plain.matches(["Tell me a joke."], ["A fine joke.", f"Sure! {item.text}"]) == []
    assert [m.item.name for m in answers.matches(["Tell me a joke."], ["A fine joke.", f"Sure! {item.text}"])] == [item.name]
    kto = KtoExample(prompt=[Message(role="user", content="Hello")], completion=Message(role="assistant", content=item.text),
                     label=True, provenance=Provenance(source="k.jsonl", index=4, line=5))
    assert plain.screen(kto) == []
    rejects = answers.screen(kto)
    assert [(r.index, r.line, r.reason, r.detail) for r in rejects] == [(4, 5, "contaminated", item.name)]
    assert rejects[0].message == ("benchmark contamination: the user turns or answers hold 100% of the word 8-grams of "
                                  f"{item.name}")


def test_a_user_file_of_items_is_a_benchmark(tmp_path):
    long_q = "Explain step by step how a hash map resolves collisions with open addressing and linear probing"
    write_jsonl(tmp_path / "my evals.jsonl", [{"id": "q1", "question": long_q}, {"question": "Hello world"}])
    (tmp_path / "alpaca_eval.json").write_text(json.dumps([{"instruction": "Name three famous Broadway actors.",
                                                            "output": "x"}, {"turns": ["Plan a trip.", "Make it cheaper."]}]))
    d = load(f"{tmp_path / 'my evals.jsonl'},{tmp_path / 'alpaca_eval.json'}")
    assert [i.name for i in d.items] == ["my_evals:q1", "my_evals:1", "alpaca_eval:0", "alpaca_eval:1"]
    assert [m.item.name for m in d.matches([f"Please: {long_q.upper()}!"])] == ["my_evals:q1"]
    assert [m.item.name for m in d.matches(["HELLO, world!!"])] == ["my_evals:1"]
    assert [m.item.name for m in d.matches(["plan a trip. make it cheaper"])] == ["alpaca_eval:1"]  # turns, joined
    assert d.benchmarks == ["my_evals", "alpaca_eval"]


def test_validate_reports_contaminated_findings_and_counts(tmp_path):
    mt, ifeval = load_items("mt-bench")[0], load_items("ifeval")[0]
    rows = [pair("What is 2 + 2?"), pair(mt.text), pair(f"Hey! {ifeval.text}"), pair("Hi", chosen=mt.text)]
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"conversations": r["conversations"], "chosen": r["chosen"], "rejected": r["rejected"]}
                                for r in rows]))
    report = validate(str(path), decontaminate="mt-bench,ifeval,arena-hard", html=str(tmp_path / "r.html"))
    found = [(f.index, f.level, f.message) for f in report.findings.items if f.code == "contaminated"]
    assert found == [(1, "error", "benchmark contamination: the user turns hold 100% of the word 8-grams of mt-bench:81"),
                     (2, "error", f"benchmark contamination: the user turns hold 100% of the word 8-grams of {ifeval.name}")]
    assert report.to_json()["contamination"] == {"mt-bench": 1, "ifeval": 1, "arena-hard": 0}
    assert "<table id=\"contamination\">" in (tmp_path / "r.html").read_text()
    answers = validate(str(path), decontaminate=load("mt-bench", answers=True))
    assert [f.index for f in answers.findings.items if f.code == "contaminated"] == [1, 3]
    assert validate(str(path)).to_json()["contamination"] is None


def test_the_cli_rejects_reports_and_refuses_bad_options(cli, tmp_path, planted_file):
    path, planted, _ = planted_file
    result = cli("convert", path, "-o", tmp_path / "o.json", "--from", "sharegpt", "--decontaminate",
                 "mt-bench,ifeval", "--ngram", "8", "--overlap", "0.5", "--report-json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["contamination"] == {"mt-bench": 20, "ifeval": 20}
    assert "contaminated (rejects naming each benchmark): mt-bench 20, ifeval 20" in result.stderr
    result = cli("validate", tmp_path / "o.json", "--decontaminate", "mt-bench", "-q")
    assert result.exit_code == 0  # what convert wrote holds no mt-bench item
    result = cli("validate", path, "--decontaminate", "arena-hard", "--report-json", tmp_path / "v.json", "-q")
    assert result.exit_code == 1 and json.loads((tmp_path / "v.json").read_text())["contamination"] == {"arena-hard": 20}
    help_text = " ".join(cli("convert", "--help").output.split())
    assert "at least 50% of the item's word 8-grams" in help_text.replace("│ ", "").replace(" │", "")
    for args, message in ((["--ngram", "12"], "--ngram, --overlap and --decontaminate-answers go with --decontaminate"),
                          (["--decontaminate", "mmlu"], "--decontaminate mmlu: neither a built-in set"),
                          (["--decontaminate", "mt-bench", "--overlap", "0"], "--overlap 0.0: give a share above 0")):
        result = cli("convert", path, "-o", tmp_path / "x.json", *args)
        assert result.exit_code == 2 and message in result.stderr, result.output


def test_an_item_file_is_an_input_no_output_may_replace(cli, tmp_path, planted_file):
    items = write_jsonl(tmp_path / "evals.jsonl", [{"question": "What is the capital of France?"}])
    before = open(items, "rb").read()
    for command, target in (("convert", ["-o", items]), ("validate", ["--report-json", items])):
        result = cli(command, planted_file[0], *target, "--decontaminate", items)
        assert result.exit_code == 2 and "is also the" in result.output, result.output
        assert open(items, "rb").read() == before


@pytest.mark.slow
def test_the_wheel_carries_the_sets(tmp_path):
    pytest.importorskip("hatchling")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    names = set(zipfile.ZipFile(next(tmp_path.glob("prefkit-*.whl"))).namelist())
    assert {f"prefkit/benchmarks/{BUILTIN[s][0]}" for s in SETS} | {"prefkit/benchmarks/NOTICE.md"} <= names


@pytest.mark.ray
def test_local_and_ray_find_the_same_records(tmp_path, planted_file, small_blocks_ray):
    path, planted, _ = planted_file
    outputs = {}
    for executor in ("local", "ray"):  # one local Ray for the runs (prefkit uses a running one as any cluster)
        out = tmp_path / executor
        out.mkdir()
        for command, extra in (("convert", ["-o", out / "o.jsonl", "--from", "sharegpt", "--rejects", out / "r.jsonl"]),
                               ("validate", [])):
            result = CliRunner().invoke(app, [command, path, *map(str, extra), "--decontaminate", ",".join(SETS),
                                              "--decontaminate-answers", "--report-json", str(out / f"{command}.json"),
                                              "-q", "--executor", executor])
            assert result.exit_code == (0 if command == "convert" else 1), result.output
        reports = {c: json.loads((out / f"{c}.json").read_text()) for c in ("convert", "validate")}
        reports["convert"].pop("output"), reports["convert"].pop("rejects_file")
        outputs[executor] = ((out / "o.jsonl").read_bytes(), (out / "r.jsonl").read_bytes(), reports)
    assert outputs["local"] == outputs["ray"]
    assert outputs["ray"][2]["validate"]["contamination"] == {"mt-bench": 20, "arena-hard": 20, "arena-hard-v2": 20,
                                                              "ifeval": 20}
    assert len(outputs["ray"][1].splitlines()) == len(planted)
