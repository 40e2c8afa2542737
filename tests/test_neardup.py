"""Near-duplicate pairs (--near-dedup): planted near-copies (a typo, spacing, case, punctuation, a prefix) are grouped
and rejected naming the kept record, pairs that share only topic words are not, exact copies keep their own reason,
the threshold holds, train's eval split keeps near-duplicate prompts together, and local and Ray agree."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ROOT, write_jsonl
from prefkit.cli import app
from prefkit.hygiene import NearDuplicates, jaccard, signature, signatures, words
from prefkit.hygiene.neardup import LOW, bands, normalised, normalised_block, shingle_hashes
from prefkit.pipeline.convert import convert
from prefkit.pipeline.validate import validate

TOPIC = ("bread dough flour yeast oven knead rise crust butter salt water sugar bake warm minutes loaf pan heat "
         "recipe sourdough starter proof temperature texture crumb gluten rye wheat honey egg milk tray cool slice "
         "hours overnight fold shape score steam golden bowl").split()
VARIANTS = ("typo", "spacing", "case", "punctuation", "prefix")
BASES = 60


def sentence(rng: random.Random, n: int) -> str:
    """n topic words in a random order, cut into sentences: pairs built so share words, not 5-word runs."""
    out = [rng.choice(TOPIC) for _ in range(n)]
    return " ".join(w + ("." if i % 9 == 8 else "") for i, w in enumerate(out)).capitalize() + "."


def base_pair(rng: random.Random) -> dict[str, str]:
    return {"prompt": sentence(rng, 25), "chosen": sentence(rng, 40), "rejected": sentence(rng, 35)}


def variant(pair: dict[str, str], how: str) -> dict[str, str]:
    if how == "typo":  # one letter of one word of the chosen answer
        text = pair["chosen"]
        at = text.index(" ", len(text) // 2) + 2
        return {**pair, "chosen": text[:at] + ("x" if text[at] != "x" else "y") + text[at + 1:]}
    if how == "spacing":
        return {k: re.sub(r" ", "  ", v).replace(". ", ".\n\n") for k, v in pair.items()}
    if how == "case":
        return {k: v.upper() if k == "prompt" else v.lower() for k, v in pair.items()}
    if how == "punctuation":
        return {k: v.replace(".", "!").replace(" ", ", ", 3) for k, v in pair.items()}
    return {**pair, "prompt": "Question: " + pair["prompt"]}


def sharegpt(pair: dict[str, str]) -> dict:
    return {"conversations": [{"from": "human", "value": pair["prompt"]}], "chosen": {"from": "gpt", "value": pair["chosen"]},
            "rejected": {"from": "gpt", "value": pair["rejected"]}}


@pytest.fixture(scope="module")
def planted() -> tuple[list[dict], dict[int, int], dict[int, int]]:
    """BASES distinct pairs on one topic, then a near-copy of each (variants in turn) and 5 exact copies, shuffled
    after the bases: (records, {near-copy index: its base}, {exact copy index: its base})."""
    rng = random.Random(7)
    bases = [base_pair(rng) for _ in range(BASES)]
    later = [("near", i, variant(b, VARIANTS[i % len(VARIANTS)])) for i, b in enumerate(bases)]
    later += [("exact", i, bases[i]) for i in range(0, 50, 10)]
    rng.shuffle(later)
    records = [sharegpt(b) for b in bases] + [sharegpt(p) for _, _, p in later]
    near = {BASES + k: i for k, (kind, i, _) in enumerate(later) if kind == "near"}
    exact = {BASES + k: i for k, (kind, i, _) in enumerate(later) if kind == "exact"}
    return records, near, exact


def rejects_of(path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")] if os.path.exists(path) else []


def test_planted_near_duplicates_are_rejected_naming_the_kept_record(tmp_path, planted, capsys):
    records, near, exact = planted
    path = write_jsonl(tmp_path / "pairs.jsonl", records)
    report = convert([path], str(tmp_path / "out.jsonl"), fmt="sharegpt", near_dedup=True)
    rejects = rejects_of(tmp_path / "out.rejects.jsonl")
    found = {r["index"]: r for r in rejects if r["reason"] == "near_duplicate"}
    named = {i: int(re.match(r"near-duplicate of record (\d+)", r["message"]).group(1)) for i, r in found.items()}
    true_positives = sum(named.get(i) == base for i, base in near.items())
    precision, recall = true_positives / max(1, len(found)), true_positives / len(near)
    with capsys.disabled():
        print(f"\nnear-dedup on {len(records)} planted records: {len(near)} near-copies "
              f"({', '.join(VARIANTS)}), precision {precision:.3f}, recall {recall:.3f}")
    assert (precision, recall) == (1.0, 1.0), {i: (named.get(i), b) for i, b in near.items()}
    assert all("estimated Jaccard" in r["message"] and "which is kept" in r["message"] for r in found.values())
    assert {r["index"] for r in rejects if r["reason"] == "duplicate_pair"} == set(exact)  # exact copies: their reason
    assert report.near_duplicates == len(near) and report.near_threshold == 0.8
    assert report.accepted == BASES and report.rejected_by_reason == {"near_duplicate": len(near), "duplicate_pair": 5}


def test_each_kind_of_edit_stays_above_the_threshold_and_topic_alike_pairs_far_below():
    rng = random.Random(11)
    pairs = [base_pair(rng) for _ in range(40)]
    text = lambda p: "\n".join(p.values())  # noqa: E731
    for how in VARIANTS:
        sims = [jaccard(*signatures([text(p), text(variant(p, how))])) for p in pairs]
        assert min(sims) >= 0.85, (how, min(sims))
    others = signatures([text(p) for p in pairs])
    assert max(jaccard(a, b) for i, a in enumerate(others) for b in others[i + 1:]) < 0.2  # topic words alone


def text_pair(shared: int, own: int, rng: random.Random) -> tuple[str, str]:
    """Two texts of unique words with a known 5-gram Jaccard: a common run of ``shared`` words, then ``own`` each."""
    vocab = [f"w{i}" for i in rng.sample(range(10**6), shared + 2 * own)]
    common, a, b = vocab[:shared], vocab[shared:shared + own], vocab[shared + own:]
    return " ".join(common + a), " ".join(common + b)


def exact_jaccard(a: str, b: str) -> float:
    grams = lambda t: set(zip(*(words(t)[i:] for i in range(5))))  # noqa: E731
    return len(grams(a) & grams(b)) / len(grams(a) | grams(b))


def test_the_threshold_is_respected(tmp_path):
    rng = random.Random(3)
    rows, sims = [], []
    for shared, own in ((400, 15), (400, 90), (400, 250)):  # 396 common 5-grams, 2 x own apart
        a, b = text_pair(shared, own, rng)
        sims.append(round(exact_jaccard(a, b), 2))
        rows += [sharegpt({"prompt": a, "chosen": "Yes.", "rejected": "No."}),
                 sharegpt({"prompt": b, "chosen": "Yes.", "rejected": "No."})]
    assert sims == [0.93, 0.69, 0.44]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    for threshold, grouped in ((0.8, {1}), (0.55, {1, 3}), (0.3, {1, 3, 5}), (1.0, set())):
        convert([path], str(tmp_path / "out.jsonl"), fmt="sharegpt", near_dedup=True, near_threshold=threshold)
        assert {r["index"] for r in rejects_of(tmp_path / "out.rejects.jsonl")} == grouped, threshold


def crafted(keys: list[int], low: bytes) -> bytes:
    """A signature of 14 band keys (unused ones: unique) and 128 low bytes."""
    b = bands()[0]
    return np.array(keys + [10**9 + i + 1000 * keys[0] for i in range(b - len(keys))], "<u8").tobytes() + low


def test_a_chain_of_near_copies_is_one_group_kept_by_its_first_record():
    base = bytes(range(LOW))
    near_a = bytes(base[:116]) + bytes(12)  # 116 of 128 low bytes shared: about 0.9
    near_b = bytes(near_a[:12]) + bytes([255] * 8) + bytes(near_a[20:])  # shares 0.9 with near_a, ~0.84 with base
    far = bytes(base[:64]) + bytes([200] * 64)  # shares a band with base but only half its minhashes
    index = NearDuplicates()
    got = index.add_block([10, 11, 12, 13, 14], [crafted([1], base), crafted([1, 2], near_a), crafted([2, 3], near_b),
                                                 crafted([3], far), None])
    assert got[0] is None and got[3] is None and got[4] is None  # ``far`` is a candidate, not a near-duplicate
    assert (got[1].kept, got[1].via) == (10, 10) and (got[2].kept, got[2].via) == (10, 11)
    assert got[2].jaccard == jaccard(near_b, near_a) >= 0.8
    (group,) = index.groups()
    assert (group.indices, group.size, group.jaccard) == ((10, 11, 12), 3, min(got[1].jaccard, got[2].jaccard))
    assert index.duplicates == 2 and index.share == 3 / 4  # the record without words is not counted
    one_by_one = NearDuplicates()  # add() is add_block() of one
    assert [one_by_one.add(i, s) for i, s in zip([10, 11, 12], [crafted([1], base), crafted([1, 2], near_a),
                                                                 crafted([2, 3], near_b)])] == got[:3]


def test_shingles_follow_the_decontamination_normalisation():
    texts = ["It's  a  Test—of (Unicode) naïveté_2! And  more words here, please.", "ÉCOLE  d'été: Straße, 東京 タワー.",
             "one two", "", "  ...  ", "a b c d e"]
    flat, counts = shingle_hashes([normalised(t) for t in texts])
    assert counts.tolist() == [max(1, len(words(t)) - 4) if words(t) else 0 for t in texts]
    assert [n.split() for n in map(normalised, texts)] == [[w.encode() for w in words(t)] for t in texts]
    same = signatures(["Hello, WORLD: this is  one pair.", "hello world this is one pair", "hello world this is one"])
    assert same[0] == same[1] != same[2]
    assert signature([""]) is None and signature(["", "?!"]) is None


def test_block_normalisation_gives_the_words_and_shingles_of_each_text():
    """normalised_block (numpy over UTF-8) against normalised (a regex per text): the same words, the same hashes."""
    texts = ["It's  a  Test—of (Unicode) naïveté_2! And  more words here, please.", "ÉCOLE  d'été: Straße, 東京 タワー.",
             "İstanbul ΟΔΟΣ ΣΑΣ ǅemal", "lone \ud800 surrogate 😀 emoji words here", "", "plain ascii words only", "一"]
    buf, starts = normalised_block(texts)
    ends = [*starts[1:].tolist(), len(buf)]
    assert [buf[s:e].split() for s, e in zip(starts.tolist(), ends)] == [normalised(t).split() for t in texts]
    by_text = shingle_hashes([normalised(t) for t in texts])
    assert all((a == b).all() for a, b in zip(by_text, shingle_hashes([buf[s:e] for s, e in zip(starts.tolist(), ends)])))


def test_signatures_are_the_same_in_every_process():
    code = ("from prefkit.hygiene import signatures; import hashlib; "
            "print(hashlib.sha256(b''.join(signatures(['Write a haiku about the sea at night.', 'Ünïcode wörds, "
            "東京 and more words'] * 50))).hexdigest())")
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout for seed in ("0", "1", "random")}
    assert len(seen) == 1


def test_bands_are_tuned_to_the_threshold():
    assert bands(0.8) == (14, 9) and bands(0.5)[0] * bands(0.5)[1] <= 128
    assert len(signature(["some words to sign here"], 0.5)) == 8 * bands(0.5)[0] + LOW


def test_cli_states_the_rule_and_refuses_bad_thresholds(tmp_path, planted):
    result = CliRunner().invoke(app, ["convert", "--help"], terminal_width=300)
    assert "--near-dedup" in result.output and "word 5-grams" in result.output and "default 0.8" in result.output
    path = write_jsonl(tmp_path / "pairs.jsonl", planted[0][:5])
    for args, message in ((["--near-threshold", "0.9"], "--near-threshold goes with --near-dedup"),
                          (["--near-dedup", "--near-threshold", "1.5"], "--near-threshold 1.5: give a Jaccard")):
        result = CliRunner().invoke(app, ["convert", path, "-o", str(tmp_path / "o.jsonl"), *args])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["convert", write_jsonl(tmp_path / "all.jsonl", planted[0]), "-o",
                                      str(tmp_path / "o.jsonl"), "--near-dedup"])
    assert result.exit_code == 0 and "near-duplicates (estimated Jaccard >= 0.8): 60 rejected" in result.output


def test_near_duplicates_across_sources_name_the_other_file(tmp_path, planted):
    records, near, _ = planted
    first = write_jsonl(tmp_path / "first.jsonl", records[:BASES])
    second = tmp_path / "second.json"
    second.write_text(json.dumps(records[BASES:]))
    convert([first, str(second)], str(tmp_path / "out.jsonl"), fmt="sharegpt", near_dedup=True)
    messages = {r["index"]: r["message"] for r in rejects_of(tmp_path / "out.rejects.jsonl") if r["reason"] == "near_duplicate"}
    assert {i + BASES for i in messages} == set(near)
    assert all(f"of {first}" in m for m in messages.values())


def test_eval_split_keeps_near_duplicate_prompts_together(tmp_path):
    from prefkit.handoff.train import split_eval

    rng = random.Random(5)
    prompts = [sentence(rng, 30) for _ in range(40)]
    copies = {i: variant({"prompt": p}, VARIANTS[i % 3 + 2])["prompt"] for i, p in enumerate(prompts)}  # case, punct, prefix
    copies |= {i + 100: re.sub(r"(\w)(\w)(\w*)$", r"\2\1\3", p.rstrip(".")) for i, p in enumerate(prompts[:10])}  # a typo
    rows = [{"prompt": p, "chosen": f"answer {i}", "rejected": f"other {i}"} for i, p in enumerate(prompts)]
    rows += [{"prompt": p, "chosen": f"copy {i % 100}", "rejected": f"copy other {i}"} for i, p in copies.items()]
    path = write_jsonl(tmp_path / "raw.jsonl", [sharegpt(r) for r in rows])
    convert([path], str(tmp_path / "pairs.json"), fmt="sharegpt", register="pairs", dataset_dir=str(tmp_path))
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["pairs"]
    split_eval("pairs", str(tmp_path), entry, 0.25)
    side = {}
    for part in ("train", "eval"):
        for row in json.loads((tmp_path / f"pairs_{part}.json").read_text()):
            side.setdefault(row["chosen"]["value"].split()[-1], set()).add(part)
    assert all(len(parts) == 1 for parts in side.values()), side  # a prompt and its near-copies: one side
    assert 5 <= sum(parts == {"eval"} for parts in side.values()) <= 15


@pytest.mark.ray
def test_local_and_ray_give_the_same_rejects(tmp_path, planted, monkeypatch, small_blocks_ray):
    records, near, exact = planted
    first = write_jsonl(tmp_path / "first.jsonl", records[: BASES + 20])
    second = tmp_path / "second.json"  # blocks of rows, not line ranges
    second.write_text(json.dumps(records[BASES + 20:]))
    module = sys.modules["prefkit.pipeline.convert"]
    decided = []  # the Ray run judges on the cluster (pass 1), not in this process
    judge = module.near_decisions
    monkeypatch.setattr(module, "near_decisions", lambda *a: decided.append(judge(*a)) or decided[-1])
    outputs = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        out.mkdir()
        result = CliRunner().invoke(app, ["convert", first, str(second), "-o", str(out / "o.jsonl"), "--from", "sharegpt",
                                          "--rejects", str(out / "r.jsonl"), "--near-dedup", "--report-json",
                                          str(out / "report.json"), "-q", "--executor", executor])
        assert result.exit_code == 0, result.output
        report = json.loads((out / "report.json").read_text())
        report.pop("output"), report.pop("rejects_file")
        outputs[executor] = ((out / "o.jsonl").read_bytes(), (out / "r.jsonl").read_bytes(), report)
    assert outputs["local"] == outputs["ray"]
    assert outputs["ray"][2]["near_duplicates"] == len(near) and len(decided) == 1
    assert len(decided[0]) == len(near) + len(exact)  # an exact copy is judged too, but rejected as duplicate_pair


@pytest.mark.ray
def test_a_ray_run_whose_every_record_is_rejected_says_so_as_a_local_one(tmp_path, small_blocks_ray):
    rows = [{"prompt": f"question {i}", "response_a": f"a {i}", "response_b": f"b {i}"} for i in range(40)]  # no verdict
    src = write_jsonl(tmp_path / "votes.jsonl", rows)
    said = {}
    for executor in ("local", "ray"):
        result = CliRunner().invoke(app, ["convert", src, "-o", str(tmp_path / f"{executor}.jsonl"), "--from",
                                          "pairwise", "--near-dedup", "-q", "--executor", executor])
        said[executor] = (result.exit_code, result.output.strip().splitlines()[-1])
    assert said["ray"] == said["local"] and said["local"][0] == 1
    assert "all 40 records were rejected (no_verdict 40)" in said["local"][1]


@pytest.mark.ray
def test_the_cluster_phases_are_named_to_the_progress_line(tmp_path, planted, small_blocks_ray):
    records, near, _ = planted
    src = write_jsonl(tmp_path / "pairs.jsonl", records)
    phases: list[str | None] = []
    report = convert([str(src)], str(tmp_path / "parts") + "/", fmt="sharegpt", near_dedup=True, executor="ray",
                     phase=phases.append)
    assert report.near_duplicates == len(near)
    assert phases == ["signing for near-duplicates on the cluster", "judging near-duplicates on the cluster", None,
                      "deciding duplicates on the cluster", None]


def test_validate_reports_the_same_near_duplicates_and_groups(tmp_path, planted):
    records, near, exact = planted
    path = write_jsonl(tmp_path / "pairs.jsonl", records)
    report = validate(path, near_dedup=0.8)
    named = {f.index: int(re.match(r"near-duplicate of record (\d+)", f.message).group(1))
             for f in report.findings.items if f.code == "near_duplicate"}
    assert named == near  # each near-copy names its base; none else is flagged
    assert {f.index for f in report.findings.items if f.code == "duplicate_pair"} == set(exact)  # their own finding
    groups = report.near_duplicates
    assert groups["groups"] == len(near) and groups["records_in_groups"] == 2 * len(near)
    assert groups["share"] == round(2 * len(near) / (len(records) - len(exact)), 4)
    assert all(g["size"] == 2 and g["jaccard"] >= 0.8 for g in groups["largest"])
    assert validate(path).near_duplicates is None and "near-duplicate" in validate_html(tmp_path, path)


def validate_html(tmp_path, path) -> str:
    validate(path, near_dedup=0.8, html=str(tmp_path / "report.html"))
    return (tmp_path / "report.html").read_text()


@pytest.mark.ray
def test_validate_on_ray_finds_the_same_near_duplicates(tmp_path, planted):
    pytest.importorskip("ray", reason="Ray is not installed (make setup installs prefkit[scale])")
    records, near, _ = planted
    path = write_jsonl(tmp_path / "pairs.jsonl", records)
    local = validate(path, near_dedup=0.8).to_json()
    distributed = validate(path, near_dedup=0.8, executor="ray", workers=2).to_json()
    assert distributed["near_duplicates"] == local["near_duplicates"] and local["near_duplicates"]["groups"] == len(near)
    assert distributed["warnings"] == local["warnings"]


def test_the_two_kto_examples_of_one_pair_are_not_near_duplicates_of_each_other(tmp_path):
    prompt = "Summarise this report: " + " ".join(f"station {i} measured {i * 7 % 50} mm" for i in range(60))
    rows = [{"conversations": [{"from": "human", "value": prompt + ("" if i == 0 else " Thanks.")}],
             "chosen": {"from": "gpt", "value": "Rain rose."}, "rejected": {"from": "gpt", "value": "Rain fell."}}
            for i in range(2)]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    report = convert([path], str(tmp_path / "kto.jsonl"), fmt="sharegpt", to="kto", near_dedup=True)
    reasons = [r["reason"] for r in rejects_of(tmp_path / "kto.rejects.jsonl")]
    assert reasons == ["near_duplicate", "near_duplicate"]  # record 1's two examples copy record 0's
    assert report.pairs_written == 2


# --- the same decisions as before the part cache (issue 33): a reference signer and index, in plain Python ---------
M64 = 2**64 - 1


def _mix64(h: int) -> int:
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD & M64
    h ^= h >> 33
    h = h * 0xC4CEB9FE1A85EC53 & M64
    return h ^ h >> 33


def reference_signatures(texts: list[str], threshold: float = 0.8) -> list[bytes | None]:
    """The signer before the part cache, one text and one word at a time: words() of the joined text, each word's
    hash (the sum of BYTE[byte] * P**place mod 2**32, mixed), 5-grams (a shorter text: one of all its words), rensa,
    band keys and low bytes."""
    from rensa import RMinHash

    from prefkit.hygiene import neardup as nd

    byte, p, mult = [int(x) for x in nd._BYTE], int(nd._P), [int(x) for x in nd._SHINGLE_MULT]
    grams = []
    for text in texts:
        wh = [_mix64(sum(byte[c] * pow(p, i, 2**32) % 2**32 for i, c in enumerate(w.encode("utf-8", "surrogatepass"))))
              for w in words(text)]
        runs = [wh[j:j + 5] for j in range(len(wh) - 4)] if len(wh) >= 5 else [wh] if wh else []
        grams.append([_mix64(sum(h * m for h, m in zip(run, mult)) & M64) for run in runs])
    b, r = bands(threshold)
    out = []
    for shingles, row in zip(grams, RMinHash.digest_matrix_from_token_hash_sets(grams, 128, 1).to_rows()):
        keys = [_mix64(sum(row[k] * int(nd._BAND_MULT[k]) + int(nd._BAND_ADD[k]) for k in range(i * r, (i + 1) * r)) & M64)
                for i in range(b)]
        out.append(b"".join(k.to_bytes(8, "little") for k in keys) + bytes(v & 0xFF for v in row) if shingles else None)
    return out


def reference_duplicates(sigs: list[bytes | None], threshold: float = 0.8) -> list[tuple[int, int, float] | None]:
    """The index before vectorised matching: a record's candidates are the first records of its band keys, earlier
    than it; the first of them (in input order) whose estimated Jaccard reaches the threshold takes it in its group."""
    b = bands(threshold)[0]
    first: dict[bytes, int] = {}
    root: dict[int, int] = {}
    out = []
    for i, s in enumerate(sigs):
        if s is None:
            out.append(None)
            continue
        keys = [s[8 * k: 8 * k + 8] for k in range(b)]
        candidates = sorted({first[k] for k in keys if k in first})
        for k in keys:
            first.setdefault(k, i)
        found = next(((c, j) for c in candidates if (j := jaccard(s, sigs[c])) >= threshold), None)
        if found:
            root[i] = root.get(found[0], found[0])
        out.append(None if found is None else (root[i], found[0], found[1]))
    return out


@pytest.fixture(scope="module")
def real_pairs() -> list[list[str]]:
    """Pairs of the third-party fixtures (English and Chinese), as parts: their prompts recombined with other answers
    (parts repeat, as prompts and system prompts do), a near-copy of some (a typo, case and spacing), a few edge texts."""
    fixtures = ROOT / "tests" / "fixtures"
    base = []
    for name in ("dpo_en_demo.sample.json", "dpo_zh_demo.sample.json"):
        for row in json.loads((fixtures / name).read_text(encoding="utf-8")):
            base.append([m["value"] for m in row["conversations"]] + [row["chosen"]["value"], row["rejected"]["value"]])
    for line in (fixtures / "medicalgpt_dpo_zh.sample.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        base.append([t for t in (row["system"], row["question"], row["response_chosen"], row["response_rejected"]) if t])
    rng = random.Random(13)
    pairs = list(base)
    for _ in range(3 * len(base)):
        a, b = rng.sample(base, 2)
        pairs.append(a[:-2] + [rng.choice(a[-2:]), rng.choice(b[-2:])])
    for pair in rng.sample(pairs, 20):
        pairs.append([re.sub(r"(\w)(\w)", r"\2\1", pair[0], count=1), *(re.sub(" ", "  ", t).upper() for t in pair[1:])])
    edge = ["", "a", "one two", "a b c d", "a b c d e", "  ...  ", "Straße 東京 ΟΔΟΣ", "lone \ud800 surrogate 😀 here"]
    pairs += [[rng.choice(edge) for _ in range(rng.randint(0, 5))] for _ in range(60)]
    return pairs


def test_signatures_and_groups_are_those_of_the_signer_before_the_part_cache(real_pairs, monkeypatch):
    from prefkit.hygiene import neardup as nd

    joined = ["\n".join(p) for p in real_pairs]
    before = reference_signatures(joined)
    nd._PARTS.clear()
    assert nd.signatures(real_pairs) == before  # byte-identical: parts hashed and cached
    assert nd.signatures(real_pairs) == before  # from the cache
    assert nd.signatures(joined) == before  # a joined text is one part
    monkeypatch.setattr(nd, "CACHE_SHINGLES", 0)  # the cache emptied at every call
    assert [s for i in range(0, len(real_pairs), 7) for s in nd.signatures(real_pairs[i:i + 7])] == before
    for threshold in (0.8, 0.5):
        sigs = nd.signatures(real_pairs, threshold)
        index = NearDuplicates(threshold)
        got = [d if d is None else (d.kept, d.via, d.jaccard) for i in range(0, len(sigs), 50)
               for d in index.add_block(range(i, min(i + 50, len(sigs))), sigs[i:i + 50])]
        assert got == reference_duplicates(sigs, threshold)
        assert sum(d is not None for d in got) >= 20  # the near-copies at least
        assert [g.indices for g in index.groups()] == sorted(
            [(k, *(i for i, d in enumerate(got) if d and d[0] == k)) for k in {d[0] for d in got if d}])


def test_bands_are_those_of_the_loop_before():
    def loop(threshold: float, num_perm: int = 128) -> tuple[int, int]:
        def mass(b: int, r: int, low: float, high: float, candidate: bool) -> float:
            h = (high - low) / 64
            p = [1 - (1 - (low + (i + 0.5) * h) ** r) ** b for i in range(64)]
            return h * sum(p if candidate else (1 - x for x in p))
        pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
        return min(pairs, key=lambda br: 0.1 * mass(*br, 0.0, threshold, True) + 0.9 * mass(*br, threshold, 1.0, False))

    assert all(bands(t) == loop(t) for t in (0.05, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0))


def test_record_texts_reads_every_kind_of_record():
    from prefkit.hygiene.neardup import record_texts
    from prefkit.records import KtoExample, Message, PreferencePair, Provenance, UnlabeledPair

    at = Provenance(source="x", index=0)
    user, a, b = Message(role="user", content="q"), Message(role="assistant", content="a"), Message(role="assistant", content="b")
    assert record_texts(PreferencePair(system="s", prompt=[user], chosen=a, rejected=b, provenance=at, images=["i.png"])) \
        == ["s", "q", "a", "b", "i.png"]
    assert record_texts(KtoExample(prompt=[user], completion=a, label=True, provenance=at)) == ["q", "a"]
    assert record_texts(UnlabeledPair(prompt=[user], response_a=a, response_b=b, provenance=at)) == ["q", "a", "b"]
