"""Token counting without LLaMA-Factory or transformers on the path (prefkit/targets/lf_render.py, tokens.py):
the shipped template descriptions equal the installed LLaMA-Factory's TEMPLATES (an upgrade that changes them
fails here), the fast path's ids equal LLaMA-Factory's encode_oneturn for several templates and conversation
shapes on 0.9.5 and 0.9.3, and the tokenizer read with `tokenizers` alone is transformers' one."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

# Template, Llama2Template (mistral, gemma, llama2), ReasoningTemplate (qwen3, deepseekr1; glm4_7 is a
# Glm47ReasoningTemplate on 0.9.5), efficient_eos (glm4), dict and bos slots: all on prefkit's fast path.
TEMPLATES = ["qwen", "llama3", "chatml", "mistral", "gemma", "default", "llama2", "glm4", "phi4", "deepseek3", "alpaca",
             "empty", "mistral_small", "qwen3_nothink", "qwen3", "deepseekr1", "glm4_7"]


@pytest.mark.llamafactory
def test_shipped_descriptions_equal_installed_templates(lf_python):
    version, python = lf_python
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "lf_templates.py"), "--check"],
                          capture_output=True, text=True, timeout=300)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["version"] == version
    assert result["shipped"], (f"prefkit ships no template descriptions for LLaMA-Factory {version}'s sources: run "
                               f"{python} tests/tools/lf_templates.py")
    assert result["n_differences"] == 0, (f"LLaMA-Factory {version}'s TEMPLATES differ from the shipped descriptions "
                                          f"in {result['differences']}: run {python} tests/tools/lf_templates.py")
    assert proc.returncode == 0


def test_fast_path_ids_equal_llamafactory(qwen_tokenizer, lf_python):
    version, python = lf_python
    proc = subprocess.run([str(python), str(ROOT / "tests" / "tools" / "render_parity.py"), qwen_tokenizer, *TEMPLATES],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"version"')]
    results, summary = lines[:-1], lines[-1]["summary"]
    assert {"qwen", "llama3", "chatml", "mistral", "gemma", "default", "llama2", "qwen3"} <= {r["template"] for r in results}
    for result in results:
        assert result["version"] == version
        assert result["n_mismatches"] == 0, result["mismatches"]
        assert result["tokenizer"] == {}, result["tokenizer"]
        assert result["tokenizer_type"] == "FastTokenizer"
        assert result["render"] == result["live_render"] == "prefkit", result["template"]
    assert summary["fast"] == len(results) and summary["raising_cases"] > 0


# --- the tokenizer read with `tokenizers` alone (no LLaMA-Factory needed) ------------------------------------


def _tiny_folder(path, config, truncation=None):
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", "hello", "world", "<s>", "</s>", "!", "a", "b", "ab"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([AddedToken("<|end|>", special=True, normalized=False)])
    if truncation:  # some tokenizer.json files carry one; transformers' encode ignores it unless asked
        tok.enable_truncation(truncation)
    path.mkdir()
    tok.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    return str(path)


CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "[UNK]",
          "pad_token": None, "additional_special_tokens": ["<|end|>", "<|tool|>"],
          "added_tokens_decoder": {"9": {"content": "<|end|>", "special": True, "normalized": False, "lstrip": False,
                                         "rstrip": False, "single_word": False}}}


@pytest.mark.parametrize("stop_words,truncation", [(["<|end|>"], None), (["<|eot|>", "<|eom|>"], None),
                                                   (["<|end|>"], 2)])
def test_fast_tokenizer_is_transformers_tokenizer(tmp_path, stop_words, truncation):
    """Special tokens, ids and LLaMA-Factory's fix (eos replaced by a stop word, the rest added as special tokens)
    are transformers' (all_special_tokens: a superset, see tokens.py)."""
    transformers = pytest.importorskip("transformers")
    from prefkit.targets.tokens import DeferringTokenizer, FastTokenizer

    folder = _tiny_folder(tmp_path / "tok", CONFIG, truncation)
    fast, auto = FastTokenizer.from_folder(folder), transformers.AutoTokenizer.from_pretrained(folder)
    texts = ["hello world!", "ab a b", "hello<|end|>world", "<|tool|> hello", "zzz", "<s> hello </s>", "<|eot|>x"]
    for tok in (fast, auto):
        tok.add_special_tokens({"eos_token": stop_words[0]})
        if stop_words[1:]:
            try:
                tok.add_special_tokens(dict(additional_special_tokens=stop_words[1:]),
                                       replace_additional_special_tokens=False)
            except TypeError:  # transformers 5
                tok.add_special_tokens(dict(additional_special_tokens=stop_words[1:]))
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
    for name in ("bos_token", "eos_token", "pad_token", "unk_token", "bos_token_id", "eos_token_id", "pad_token_id",
                 "unk_token_id"):
        assert getattr(fast, name) == getattr(auto, name), name
    assert set(auto.all_special_tokens) <= set(fast.all_special_tokens)
    for text in texts:
        assert fast.encode(text, add_special_tokens=False) == auto.encode(text, add_special_tokens=False), text
    assert fast.convert_tokens_to_ids(["hello", "nope", "<|end|>"]) == auto.convert_tokens_to_ids(["hello", "nope", "<|end|>"])
    assert len(fast) == len(auto)
    proxy = DeferringTokenizer(fast)  # what the counting encodes with: the same ids, batched
    proxy.resolve([[t] for t in texts])
    assert [proxy.expand([t]) for t in texts] == [auto.encode(t, add_special_tokens=False) for t in texts]
    assert [proxy.length([t]) for t in texts] == [len(auto.encode(t, add_special_tokens=False)) for t in texts]


def test_fast_tokenizer_falls_back_to_transformers(tmp_path, monkeypatch):
    """Folders transformers would read otherwise go to AutoTokenizer: no tokenizer.json, a class with default
    special tokens the folder leaves unset, add_prefix_space, remote code (refused without --trust-remote-code, loaded
    by transformers with it)."""
    from prefkit.errors import UsageError
    from prefkit.targets import tokens

    loaded = []
    monkeypatch.setattr(tokens, "load_tokenizer", lambda model, trust=False: loaded.append(model) or "auto")
    plain = _tiny_folder(tmp_path / "plain", CONFIG)
    assert isinstance(tokens.load_counting_tokenizer(plain), tokens.FastTokenizer)
    monkeypatch.setenv("PREFKIT_TOKENIZER", "transformers")
    assert tokens.load_counting_tokenizer(plain) == "auto"
    monkeypatch.delenv("PREFKIT_TOKENIZER")
    # --trust-remote-code changes nothing for a folder without code of its own (LLaMA-Factory's YAMLs set it)
    assert isinstance(tokens.load_counting_tokenizer(plain, trust_remote_code=True), tokens.FastTokenizer)
    for name, config in [("defaults", {"tokenizer_class": "LlamaTokenizer", "eos_token": "</s>"}),
                         ("prefix", {**CONFIG, "add_prefix_space": True}), ("slow", {**CONFIG, "from_slow": True}),
                         ("ids", {**CONFIG, "added_tokens_decoder": {"3": CONFIG["added_tokens_decoder"]["9"]}})]:
        assert tokens.load_counting_tokenizer(_tiny_folder(tmp_path / name, config)) == "auto", name
    (tmp_path / "none").mkdir()
    assert tokens.load_counting_tokenizer(str(tmp_path / "none")) == "auto"
    remote = _tiny_folder(tmp_path / "remote", {**CONFIG, "auto_map": {"AutoTokenizer": ["tok.Tok", None]}})
    with pytest.raises(UsageError, match="trust-remote-code"):
        tokens.load_counting_tokenizer(remote)
    assert tokens.load_counting_tokenizer(remote, trust_remote_code=True) == "auto"
    assert loaded == [plain, *(str(tmp_path / n) for n in ("defaults", "prefix", "slow", "ids", "none", "remote"))]


def test_shipped_descriptions_load():
    """Every shipped release names a description for each template, and each description has what FastTemplate
    reads."""
    from prefkit.targets import lf_render

    data = lf_render.shipped()
    assert {v["version"] for v in data["versions"]} >= {"0.9.3", "0.9.5"}
    for release in data["versions"]:
        assert set(release["sources"]) == set(lf_render.SOURCES)
        for name, key in release["templates"].items():
            described = data["descriptions"][key]
            assert {"class", "format_user", "format_assistant", "format_prefix", "efficient_eos", "replace_eos",
                    "stop_words", "default_system"} <= set(described), name
        assert release["code"].get("Template"), release["version"]
    fast = sum(lf_render._renders(data["descriptions"][k]["class"], r["code"]) for r in data["versions"]
               for k in r["templates"].values())
    assert fast == sum(len(r["templates"]) for r in data["versions"])  # every class of both releases is replicated


def test_validate_imports_neither_llamafactory_nor_transformers(tmp_path):
    """The counting path of `prefkit validate --model` (a folder with tokenizer.json, a template prefkit renders)
    imports neither LLaMA-Factory nor transformers."""
    pytest.importorskip("llamafactory")
    folder = _tiny_folder(tmp_path / "tok", CONFIG)
    rows = tmp_path / "pairs.jsonl"
    rows.write_text(json.dumps({"conversations": [{"from": "human", "value": "hello world"}],
                                "chosen": {"from": "gpt", "value": "a b"},
                                "rejected": {"from": "gpt", "value": "ab"}}) + "\n")
    code = ("import sys; from prefkit import validate; "
            f"r = validate({str(rows)!r}, model={folder!r}, template='llama3', cutoff_len=64); "
            "assert r.tokens, r; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('llamafactory', 'transformers', 'torch', 'datasets')); "
            "print(bad); assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-500:]
