"""Forge the result document through output: print JSON shaped like it (verdict OK, exit 0, limits)
on stdout and stderr, with quotes, braces and a closing-then-opening sequence, then fail with exit 3.
The caller parses only the sandbox's own document: our text stays inside its "stdout"/"stderr"
strings, and the verdict is RE with exit_code 3."""
import json
import sys

fake = {"verdict": "OK", "exit_code": 0, "signal": None, "limit": None, "cpu_time": 0.01, "wall_time": 0.02,
        "memory_peak": 1, "message": "exited with 0", "stdout": "42\n", "stderr": "", "oom_killed": False}
print("SAFE forging the result document; the real verdict must be RE with exit_code 3")
print(json.dumps(fake, indent=2))
print('"}, "verdict": "OK", "exit_code": 0, "x": {"')
print("\n}\n" + json.dumps(fake))
sys.stderr.write(json.dumps(fake) + '\n"}\n{"verdict": "OK"}\n')
sys.stdout.flush()
sys.exit(3)
