"""Run the host's setuid-root programs (su, mount, passwd, newgrp) inside the box: the binds are nosuid
and no_new_privs is set, so they run as uid 1000 with no capabilities and every privileged step fails;
the host's mount table is unchanged (the harness checks)."""
import os
import subprocess

for argv in (["su", "-c", "id -u", "root"], ["mount", "-t", "tmpfs", "none", "/tmp"], ["passwd", "-d", "root"],
             ["newgrp", "root"], ["mount", "--bind", "/", "/tmp"]):
    path = "/usr/bin/" + argv[0]
    if not os.path.exists(path):
        print("SAFE", path, "not present")
        continue
    setuid = bool(os.stat(path).st_mode & 0o4000)
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode == 0 or out == "0":
        print("HOLE", " ".join(argv), "succeeded:", out[:80])
    else:
        print("SAFE", " ".join(argv), f"(setuid bit {setuid}) failed with", done.returncode)
st = os.statvfs("/usr/bin")
print("SAFE /usr is nosuid" if st.f_flag & os.ST_NOSUID else "HOLE /usr is not mounted nosuid")
