"""Run argilla-server's CLI with the "prefkit-sql" search engine registered.

    python launch.py start --host 127.0.0.1 --port 6900
    python launch.py worker --num-workers 1
    python launch.py database migrate
    python launch.py database users create --username owner --role owner --password ... --api-key ...

Runs under the interpreter that has argilla-server installed (not the project's venv). The rq worker
pool forks its workers, so they inherit the registration made here.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import prefkit_sql_engine  # noqa: E402, F401  (registers the engine)
from argilla_server.cli import app  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "argilla_server"
    app()
