"""Parse training configs with LLaMA-Factory's own argument parser (get_train_args), one JSON line each.

    python tests/tools/lf_parse_args.py CONFIGS.json    (a JSON list of config dicts)

Prints {"ok": true} or {"ok": false, "error": "..."} per config.
"""

import json
import os
import sys
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="prefkit-hf-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")


def main() -> None:
    from llamafactory.hparams import get_train_args

    with open(sys.argv[1]) as f:
        configs = json.load(f)
    for config in configs:
        try:
            get_train_args(config)
            print(json.dumps({"ok": True}), flush=True)
        except (ValueError, TypeError, ImportError, SystemExit) as err:  # what the parser raises for a bad config
            print(json.dumps({"ok": False, "error": str(err)[:300]}), flush=True)


if __name__ == "__main__":
    main()
