"""Describe the installed LLaMA-Factory's chat templates for prefkit's fast path (prefkit/targets/lf_render.py).

    python tests/tools/lf_templates.py            # add (or refresh) the installed release in lf_templates.json
    python tests/tools/lf_templates.py --check    # compare; print one JSON line; exit 1 when they differ

Run it with each LLaMA-Factory prefkit supports (`.venv/bin/python` has 0.9.5, `.venv-lf093/bin/python` 0.9.3)
after an upgrade: the file keeps one entry per release, keyed by the sha256 of its data/template.py,
data/formatter.py and hparams/data_args.py, with the variant of the template classes whose code prefkit
replicates (lf_render.CODE; a class whose code it does not recognise is rendered by LLaMA-Factory), the
DataArguments defaults, the model table --template auto reads (SUPPORTED_MODELS, DEFAULT_TEMPLATE, with the
sha256 of extras/constants.py), and the descriptions they share once. --check prints {"version", "sources", "shipped"
(whether an entry has these sources), "templates" (how many), "code", "unrecognised_classes", "differences" (the
first few names whose description differs, is missing or is extra, and "code" etc. when those differ)}.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.metadata import version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from prefkit.targets import lf_render, lf_template  # noqa: E402


def installed() -> dict:
    """The installed release as lf_templates.json records it, with its descriptions."""
    root = lf_render.installed_root()
    lf = lf_template.load()
    hashes = lf_render.code_hashes(lf.templates, lf.get_template_and_fix_tokenizer)
    return {"version": version("llamafactory"), "sources": lf_render.source_hashes(root),
            "code": lf_render.recognised(hashes), "code_hashes": hashes,
            "data_arguments": lf_render.data_arguments(lf.data_arguments),
            "models_source": model_source_hash(root),
            "models": [[name, [str(p) for p in sources.values()], lf.default_template.get(name)]
                       for name, sources in lf.supported_models.items()],
            "described": {n: lf_render.describe(t) for n, t in lf.templates.items()}}


def model_source_hash(root: str) -> str:
    with open(os.path.join(root, *lf_render.MODELS_SOURCE.split("/")), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check() -> int:
    release = installed()
    described = release.pop("described")
    entry = next((v for v in lf_render.shipped()["versions"] if v["sources"] == release["sources"]), None)
    shipped = {} if entry is None else {n: lf_render.shipped()["descriptions"][k] for n, k in entry["templates"].items()}
    differences = sorted(n for n in set(described) | set(shipped) if described.get(n) != shipped.get(n))
    differences += [k for k in ("code", "code_hashes", "data_arguments", "models_source", "models")
                    if entry is not None and entry.get(k) != release[k]]
    unrecognised = sorted(set(release["code_hashes"]) - set(release["code"]))
    print(json.dumps({"version": release["version"], "sources": release["sources"], "shipped": entry is not None,
                      "templates": len(described), "code": release["code"], "unrecognised_classes": unrecognised,
                      "differences": differences[:10], "n_differences": len(differences)}))
    return 1 if entry is None or differences else 0


def write() -> None:
    release = installed()
    described = release.pop("described")
    data = lf_render.shipped()
    versions = [v for v in data["versions"] if v["sources"] != release["sources"] and v["version"] != release["version"]]
    versions.append({**release, "templates": {n: lf_render.description_key(d) for n, d in sorted(described.items())}})
    versions.sort(key=lambda v: [int(p) if p.isdigit() else p for p in v["version"].replace("-", ".").split(".")])
    pool = {**data["descriptions"], **{lf_render.description_key(d): d for d in described.values()}}
    used = {k for v in versions for k in v["templates"].values()}
    out = {"about": "LLaMA-Factory's chat templates per release, for prefkit's token counting without importing "
                    "LLaMA-Factory; written by tests/tools/lf_templates.py, do not edit",
           "versions": versions, "descriptions": {k: pool[k] for k in sorted(used)}}
    with open(lf_render.DATA, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0, sort_keys=False)
        f.write("\n")
    fast = sum(lf_render._renders(d["class"], release["code"]) for d in described.values())
    print(f"{lf_render.DATA}: LLaMA-Factory {release['version']}, {len(described)} templates ({fast} rendered by "
          f"prefkit; code recognised: {release['code']}, not: "
          f"{ {k: v for k, v in release['code_hashes'].items() if k not in release['code']} }); "
          f"{len(versions)} releases, {len(used)} descriptions")


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    write()
