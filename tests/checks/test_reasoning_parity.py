"""prefkit's exact lengths, kept rows and --lengths lines equal LLaMA-Factory's get_dataset on every text reasoning
template of 0.9.5 and 0.9.3 (the templates whose class is a ReasoningTemplate in its registry), for enable_thinking
true / false / null and preserve_thinking (0.9.5), at three cutoffs, pairwise and KTO, on pairs with thoughts in
every shape LLaMA-Factory treats differently (tests/tools/reasoning_parity.py runs both sides in one process).

Skipped: the multimodal reasoning templates (a multimodal plugin: get_dataset needs the model's image processor,
"Processor was not found"), listed in SKIPPED.
"""

import json
import subprocess
import sys

import pytest

from conftest import LF_PYTHONS, write_jsonl
from helpers.lf_tools import TOOLS

CUTOFFS = "48,160,4096"  # cut the prompt and the answers; cut the long rows; keep every row whole
SETTINGS = {"0.9.5": "true,false,null,true+preserve,false+preserve", "0.9.3": "true,false,null"}
SKIPPED = {  # the multimodal ReasoningTemplates of each release
    "0.9.5": ["ernie_vl", "gemma4", "gemma4n", "glm4v", "glm4_5v", "keye_vl", "kimi_vl", "mimo_vl", "qwen3_omni",
              "qwen3_vl", "qwen3_5", "qwen3_6"],
    "0.9.3": ["kimi_vl", "mimo_vl"],
}
LONG = "Let me weigh each option against the constraints before I answer. " * 40  # ~520 tokens
TOOLS_JSON = json.dumps([{"name": "add", "description": "Add two numbers",
                          "parameters": {"type": "object", "properties": {"a": {"type": "number"},
                                                                         "b": {"type": "number"}}}}])
CALL = json.dumps({"name": "add", "arguments": {"a": 2, "b": 2}})


def _turns(*turns: tuple[str, str]) -> list[dict]:
    return [{"from": role, "value": text} for role, text in turns]


def think_pairs() -> list[dict]:
    """Sharegpt ranking pairs with thoughts as users write them: exact (``<think>\\n...\\n</think>\\n\\n``), in one
    answer or both, in history turns (ending ``</think>\\n\\n`` and ``</think>\\n``), inline, unclosed, closing-only,
    in tool calls, in other templates' thought words, and long ones that the cutoffs cut."""
    exact, loose = "<think>\nadd them\n</think>\n\n", "<think>\nadd them\n</think>\n"
    q = ("human", "What is two plus two?")
    pairs = [
        (_turns(q), "<think>\nadd them\n</think>\n\n4", "5"),  # a thought in chosen only
        (_turns(q), "4", "<think>\nguess\n</think>\n\n5"),  # in rejected only
        (_turns(q), exact + "4", "<think>\nsubtract\n</think>\n\n0"),  # in both
        (_turns(q, ("gpt", exact + "4"), ("human", "And three plus three?")), "6", "7"),  # history, exact
        (_turns(q, ("gpt", loose + "4"), ("human", "And three plus three?")), exact + "6", "7"),  # history ending \n
        (_turns(q, ("gpt", "<think>x</think>4"), ("human", "Times two?")), "<think>y</think>8", "<think>\nz\n</think>\n\n9"),
        (_turns(q), "<think>\nadd them and never close it 4", "5"),  # unclosed
        (_turns(q), "4", "I added them.\n</think>\n\n5"),  # closing-only
        (_turns(("human", "Add 2 and 2 with the tool."), ("function_call", CALL), ("observation", "4")),
         "<think>\nthe tool said 4\n</think>\n\nIt is 4.", "It is 5."),  # a tool row
        (_turns(("human", "Add 2 and 2 with the tool.")), CALL, "<think>\nno tool\n</think>\n\nIt is 4."),  # a call
        # (a thought inside a function call: 0.9.5 splits it off by the template's thought words, and every template
        # whose words are not <think> fails the run on it: "Invalid JSON format in function message")
        (_turns(("human", "Think hard: " + LONG)), exact + "4", "5"),  # a long prompt
        (_turns(q), "<think>\n" + LONG + "\n</think>\n\n4", "<think>\n" + LONG[:200] + "\n</think>\n\n5"),  # long thoughts
        (_turns(q, ("gpt", "<think>\n" + LONG + "\n</think>\n4"), ("human", "Again?"), ("gpt", exact + "4"),
                ("human", "Once more?")), "4", exact + "4"),  # a long history thought kept by its whitespace
        (_turns(q), "<seed:think>\nadd\n</seed:think>\n\n4", "5"),  # other templates' thought words
        (_turns(q), "<|channel>thought\nadd<channel|>4", "<|channel|>analysis<|message|>add<|end|><|start|>"
         "assistant<|channel|>final<|message|>4"),
        (_turns(q), "4", "5"),  # no thought
        (_turns(q), "4", "4"),  # identical answers, identical after truncation too
    ]
    out = []
    for i, (conversation, chosen, rejected) in enumerate(pairs):
        chosen_role = "function_call" if chosen.endswith(CALL) and conversation[-1]["from"] == "human" else "gpt"
        row = {"conversations": conversation, "chosen": {"from": chosen_role, "value": chosen},
               "rejected": {"from": "gpt", "value": rejected}}
        if any(t["from"] == "function_call" for t in conversation) or chosen_role == "function_call":
            row["tools"] = TOOLS_JSON
        if i == 2:
            row["system"] = "You are a careful assistant."
        out.append(row)
    return out


def kto_rows(pairs: list[dict]) -> list[dict]:
    """Each pair as a desirable and an undesirable example, and one with no label (LLaMA-Factory drops it)."""
    rows = []
    for pair in pairs:
        for answer, tag in ((pair["chosen"], True), (pair["rejected"], False)):
            rows.append({"conversations": [*pair["conversations"], answer], "kto_tag": tag,
                         **{k: pair[k] for k in ("system", "tools") if k in pair}})
    rows.insert(3, {**rows[0], "kto_tag": None})
    return rows


@pytest.fixture(scope="module")
def think_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("think")
    pairs = think_pairs()
    write_jsonl(data / "pairs.jsonl", pairs)
    write_jsonl(data / "kto.jsonl", kto_rows(pairs))
    columns = {"messages": "conversations", "system": "system", "tools": "tools"}
    (data / "dataset_info.json").write_text(json.dumps({
        "pairs": {"file_name": "pairs.jsonl", "formatting": "sharegpt", "ranking": True,
                  "columns": {**columns, "chosen": "chosen", "rejected": "rejected"}},
        "kto": {"file_name": "kto.jsonl", "formatting": "sharegpt", "columns": {**columns, "kto_tag": "kto_tag"}}}))
    return data


@pytest.fixture(scope="module")
def parity(think_dir, qwen_tokenizer):
    """Both releases' tool runs, started together (one core each), by version: their JSON lines."""
    procs = {version: subprocess.Popen([str(python), str(TOOLS / "reasoning_parity.py"), str(think_dir), qwen_tokenizer,
                                        CUTOFFS, SETTINGS[version]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
             for version, python in LF_PYTHONS.items() if python.exists()}
    out = {}
    for version, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-3000:]
        out[version] = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"version"')]
    return out


def table(lines: list[dict]) -> str:
    """The parity table: template x setting, rows and mismatches (over the cutoffs, pairwise and KTO)."""
    cells: dict[tuple[str, str], list[int]] = {}
    for line in lines:
        cell = cells.setdefault((line["template"], line["setting"]), [0, 0])
        cell[0] += line["rows"]
        cell[1] += line["n_mismatches"] + line["n_lengths_mismatches"] + line["n_kl_mismatches"]
    return "\n".join(f"{t:12} {s:16} rows {r:5} mismatches {m}" for (t, s), (r, m) in sorted(cells.items()))


@pytest.mark.llamafactory
@pytest.mark.parametrize("version", list(LF_PYTHONS))
def test_reasoning_lengths_equal_llamafactory_get_dataset(version, parity, think_dir):
    if version not in parity:
        pytest.skip(f"LLaMA-Factory {version} venv not set up (make setup)")
    header, *lines = parity[version]
    assert header["version"] == version and header["skipped"] == SKIPPED[version] and header["templates"]
    settings = SETTINGS[version].split(",")
    assert len(lines) == 2 * len(header["templates"]) * len(settings) * len(CUTOFFS.split(","))
    pairs = len(think_pairs())
    for line in lines:
        where = f"{line['dataset']} {line['template']} {line['setting']} cutoff {line['cutoff']}"
        expected = pairs if line["dataset"] == "pairs" else 2 * pairs  # the unlabelled KTO row is dropped
        assert line["rows"] == line["kept"] == line["lines"] == expected, where
        assert line["render"] == "prefkit", where
        assert line["n_mismatches"] == 0, (where, line["mismatches"])
        assert line["n_lengths_mismatches"] == 0, (where, line["lengths_mismatches"])
        assert line["n_kl_mismatches"] == 0, where
    # the shortcut the tool takes (LLaMA-Factory's processor on its loader's rows) is what get_dataset gives
    assert [line["same_as_get_dataset"] for line in lines if line["same_as_get_dataset"] is not None] == [True, True]
    # the cutoffs do cut, and each setting changes what is trained (else the test could not fail on them)
    assert all(line["truncated"] for line in lines if line["cutoff"] == 48)
    for template in header["templates"]:
        trained = {line["setting"]: line["trained"] for line in lines
                   if line["template"] == template and line["cutoff"] == 4096 and line["dataset"] == "pairs"}
        assert len({trained["true"], trained["false"], trained["null"]}) == 3, (template, trained)
    print(f"\nLLaMA-Factory {version}\n" + table(lines), file=sys.stderr)
