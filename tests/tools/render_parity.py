"""Compare the ids prefkit's TokenCounter renders with LLaMA-Factory's own encode_oneturn, template by template.

    python tests/tools/render_parity.py TOKENIZER_DIR [TEMPLATE ... | --all]

Needs llamafactory and prefkit in the running python. For each template, a set of conversations (one turn,
several turns, a system prompt, tools with function calls and observations, empty and odd contents, special
tokens in text) is encoded three ways: by prefkit before LLaMA-Factory is imported (the shipped descriptions,
the tokenizer read with `tokenizers` alone), by LLaMA-Factory (AutoTokenizer, get_template_and_fix_tokenizer,
encode_oneturn, eos for efficient_eos templates), and by prefkit again in the same process as LLaMA-Factory (the
live TEMPLATES). A conversation LLaMA-Factory raises on must raise in prefkit too. Prints one JSON line per
template: {"version", "template", "render" (prefkit's renderer: "prefkit" or "llamafactory"), "cases",
"mismatches" (first few), "n_mismatches", "tokenizer" (differences in eos/pad/bos ids, the chat template,
prefkit's template note, special tokens LLaMA-Factory's tokenizer has and prefkit's lacks)}, then {"version", "summary": {...}}.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")

TOOLS = json.dumps([{"name": "get_weather", "description": "The weather in a city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                    "required": ["city"]}}])
CALL = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})


def u(text: str) -> dict:
    return {"role": "user", "content": text}


def a(text: str) -> dict:
    return {"role": "assistant", "content": text}


# (name, prompt messages, answer, system, tools)
CASES = [
    ("one turn", [u("What is 2+2?")], a("4"), None, None),
    ("system", [u("What is 2+2?")], a("Four."), "You are terse.", None),
    ("turns", [u("Hi"), a("Hello! How can I help?"), u("What is 2+2?")], a("4"), None, None),
    ("turns and system", [u("Hi"), a("Hello!"), u("Bye"), a("Goodbye."), u("Again?")], a("Yes."), "Be kind.", None),
    ("tools", [u("Weather in Paris?")], a("Let me check."), None, TOOLS),
    ("tools and system", [u("Weather in Paris?")], a("Sunny."), "You can call tools.", TOOLS),
    ("empty tools", [u("Hi")], a("Hello"), None, "[]"),
    ("function call answer", [u("Weather in Paris?")], {"role": "function", "content": CALL}, None, TOOLS),
    ("function then observation", [u("Weather in Paris?"), {"role": "function", "content": CALL},
                                   {"role": "observation", "content": '{"temp": 20}'}], a("It is 20 degrees."), None,
     TOOLS),
    ("parallel calls", [u("Paris and Rome?")], {"role": "function", "content": json.dumps(
        [{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_weather", "arguments": {"city": "Rome"}}])},
     None, TOOLS),
    ("thought in call", [u("Weather?")], {"role": "function", "content": "<think>\nCall it.\n</think>\n\n" + CALL}, None,
     TOOLS),
    ("tool_call words", [u("Weather?")], {"role": "function", "content": "Sure. <tool_call>" + CALL + "</tool_call>"},
     None, TOOLS),
    ("bad call", [u("Weather?")], {"role": "function", "content": "not json"}, None, TOOLS),
    ("empty answer", [u("Say nothing.")], a(""), None, None),
    ("leading newlines", [u("\n\nIndented question?")], a("\n  answer with spaces  \n"), None, None),
    ("placeholders in text", [u("Turn {{idx}} of {{content}}")], a("{{content}} {{idx}}"), None, None),
    ("special tokens in text", [u("Stop <|im_end|> here <|eot_id|> or </s>")], a("<|endoftext|>ok"), None, None),
    ("unicode", [u("用中文回答：天空是什么颜色？")], a("蓝色。🙂"), "请简洁。", None),
    ("long prompt", [u("word " * 300)], a("short"), None, None),
    ("system only whitespace", [u("q")], a("r"), " ", None),
]


def prefkit_ids(tokenizer_dir: str, name: str) -> tuple[str, dict, list]:
    from prefkit.checks.acceptance import Aligned
    from prefkit.targets.lf import TokenCounter

    counter = TokenCounter(tokenizer_dir, name, 1_000_000)
    proxy, out = counter._proxy, []
    for _, prompt, answer, system, tools in CASES:
        try:
            prompt_seq, (answer_seq,) = counter._encode_answers(Aligned(prompt, [answer, answer], system, tools), [answer])
            proxy.resolve([prompt_seq, answer_seq])
            out.append([proxy.expand(prompt_seq), proxy.expand(answer_seq)])
        except Exception as err:  # what LLaMA-Factory raises on it too
            out.append(f"raises {type(err).__name__}")
    tok = counter.tokenizer
    info = {"eos": tok.eos_token_id, "pad": tok.pad_token_id, "bos": tok.bos_token_id,
            "chat_template": tok.chat_template, "special": sorted(tok.all_special_tokens),
            "type": type(tok).__name__, "notes": counter.notes()}
    return counter.render, info, out


def llamafactory_ids(tokenizer_dir: str, name: str) -> tuple[dict, list]:
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    template = get_template_and_fix_tokenizer(tok, DataArguments(template=name))
    out = []
    for _, prompt, answer, system, tools in CASES:
        try:
            prompt_ids, answer_ids = template.encode_oneturn(tok, prompt + [answer], system, tools)
            if template.efficient_eos:
                answer_ids = answer_ids + [tok.eos_token_id]
            out.append([prompt_ids, answer_ids])
        except Exception as err:
            out.append(f"raises {type(err).__name__}")
    from prefkit.targets.lf import TokenCounter

    # prefkit's note on the tokenizer's chat template, as it read before the fast path: AutoTokenizer, LF's template
    reference = TokenCounter.__new__(TokenCounter)
    reference.tokenizer, reference.template, reference.template_name = tok, template, name
    info = {"eos": tok.eos_token_id, "pad": tok.pad_token_id, "bos": tok.bos_token_id,
            "chat_template": tok.chat_template, "special": sorted(tok.all_special_tokens), "notes": reference.notes()}
    return info, out


def compare(theirs: list, ours: list) -> list[dict]:
    return [{"case": case[0], "llamafactory": t, "prefkit": o} for case, t, o in zip(CASES, theirs, ours, strict=True)
            if t != o]


def main() -> None:
    tokenizer_dir, *names = sys.argv[1:]
    from prefkit.targets import lf_render

    root = lf_render.installed_root()
    release = lf_render.shipped_release(root)
    if names == ["--all"]:
        names = sorted(release["templates"]) if release else []
    names = [n for n in names if release is None or n in release["templates"]]
    before = {n: prefkit_ids(tokenizer_dir, n) for n in names}  # LLaMA-Factory not imported yet
    assert "llamafactory.data" not in sys.modules
    import llamafactory

    summary = {"templates": 0, "fast": 0, "cases": 0, "mismatches": 0, "raising_cases": 0}
    for name in names:
        render, info, ours = before[name]
        lf_info, theirs = llamafactory_ids(tokenizer_dir, name)
        live_render, _, live = prefkit_ids(tokenizer_dir, name)  # with llamafactory.data.template imported
        mismatches = compare(theirs, ours) + [{**m, "live": True} for m in compare(theirs, live)]
        tokenizer = {k: [lf_info[k], info[k]] for k in ("eos", "pad", "bos", "chat_template", "notes")
                     if lf_info[k] != info[k]}
        if set(lf_info["special"]) - set(info["special"]):
            tokenizer["special missing"] = sorted(set(lf_info["special"]) - set(info["special"]))
        summary["templates"] += 1
        summary["fast"] += render == "prefkit"
        summary["cases"] += len(CASES)
        summary["mismatches"] += len(mismatches) + bool(tokenizer)
        summary["raising_cases"] += sum(isinstance(t, str) for t in theirs)
        print(json.dumps({"version": llamafactory.__version__, "template": name, "render": render,
                          "live_render": live_render, "tokenizer_type": info["type"], "cases": len(CASES),
                          "mismatches": mismatches[:3], "n_mismatches": len(mismatches), "tokenizer": tokenizer,
                          "notes": info["notes"]}, ensure_ascii=False), flush=True)
    print(json.dumps({"version": llamafactory.__version__, "summary": summary}), flush=True)


if __name__ == "__main__":
    main()
