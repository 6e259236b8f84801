"""A judge backend as the systemd tier's service runs it (ExecStart of contrib/systemd/sandbox-judge.service):
the API, no cgroup flag, three submissions; their results as JSON to argv[1]."""
from __future__ import annotations

import json
import sys

from sandbox import Sandbox

HOG = "x = bytearray(200 << 20); print(len(x))"
SPIN = "while True: pass"


def main(out: str) -> None:
    with open("/proc/self/cgroup") as f:
        service_cgroup = f.read().strip()
    with Sandbox("py3") as box:
        results = {
            "ok": box.run(["/usr/bin/python3", "-c", "print(6 * 7)"]).to_dict(),
            "mle": box.run(["/usr/bin/python3", "-c", HOG], memory="64M").to_dict(),
            "tle": box.run(["/usr/bin/python3", "-c", SPIN], cpu_time="1s", wall_time="60s").to_dict(),
        }
    with open("/proc/self/cgroup") as f:
        results["cgroups"] = {"at_start": service_cgroup, "at_end": f.read().strip()}
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
