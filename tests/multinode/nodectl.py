"""Run several exchange management commands in one Django process (one start-up instead of one per
command) for the harness: the same commands an operator runs, through call_command.

    python tests/multinode/nodectl.py init --node-id A --name 节点A --base-url http://127.0.0.1:8101 --regions 370000
        node_init, then prints node_descriptor's JSON
    python tests/multinode/nodectl.py register < descriptors.json
        node_register - for each descriptor of the JSON list on stdin
    python tests/multinode/nodectl.py wire --node-id A ...
        both in one process: node_init, print the descriptor on ONE line, then read the JSON list of
        the other nodes' descriptors from stdin and register each (what the harness uses)

Run with the node's environment (DATABASE_URL, TONGBAN_VAR_DIR, ...) and the repository as cwd.
"""

import io
import json
import os
import sys
from pathlib import Path


def main(argv):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tongban.settings")
    import django

    django.setup()
    from django.core.management import call_command

    def init(args):
        call_command("node_init", *args, stdout=io.StringIO())
        out = io.StringIO()
        call_command("node_descriptor", stdout=out)
        return json.dumps(json.loads(out.getvalue()), ensure_ascii=False)

    def register(descriptors):
        stdin = sys.stdin
        try:
            for desc in descriptors:
                sys.stdin = io.StringIO(json.dumps(desc, ensure_ascii=False))
                call_command("node_register", "-", stdout=io.StringIO())
        finally:
            sys.stdin = stdin
        sys.stdout.write(f"registered {len(descriptors)}\n")

    if argv[:1] == ["init"]:
        sys.stdout.write(init(argv[1:]) + "\n")
    elif argv[:1] == ["register"]:
        register(json.loads(sys.stdin.read()))
    elif argv[:1] == ["wire"]:
        sys.stdout.write(init(argv[1:]) + "\n")
        sys.stdout.flush()
        register(json.loads(sys.stdin.read()))
    else:
        sys.exit(f"usage: {sys.argv[0]} init|wire <node_init options> | register < descriptors.json")


if __name__ == "__main__":
    main(sys.argv[1:])
