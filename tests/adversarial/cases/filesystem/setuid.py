"""Run every setuid/setgid program in the box: none may change the effective ids.

Models the oldest escalation in the book (a setuid-root helper: su, passwd, mount,
newgrp...; CVE-2021-4034 pkexec, CVE-2021-3156 sudo Baron Samedit) and sandboxes that
forgot nosuid on their binds.  The dynamic loader tells us what the kernel decided: with
LD_SHOW_AUXV=1 it prints the auxiliary vector (AT_EUID, AT_SECURE) before main, but only
when the exec is not a secure (setuid) one; a setuid exec that took effect prints nothing.
Every binary is stopped by its own checks long before it could do anything.
"""
import os
import stat
import subprocess

SETID = stat.S_ISUID | stat.S_ISGID
candidates = []
for directory in ("/usr/bin", "/usr/sbin", "/usr/libexec", "/usr/lib/openssh", "/usr/lib/dbus-1.0",
                  "/usr/lib/polkit-1", "/usr/lib/eject", "/usr/lib/x86_64-linux-gnu/utempter"):
    try:
        entries = os.scandir(directory)
    except OSError:
        continue
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & SETID:
            candidates.append(entry.path)
print("SAFE" if "NoNewPrivs:\t1" in open("/proc/self/status").read() else "HOLE", "no_new_privs is set")
if not candidates:
    print("SAFE no setuid or setgid program is visible")
for path in sorted(candidates):
    flags = os.statvfs(path).f_flag
    print("SAFE" if flags & os.ST_NOSUID else "HOLE", path, "is on a nosuid mount")
    try:
        done = subprocess.run([path, "--help"], env={"LD_SHOW_AUXV": "1", "PATH": "/usr/bin:/bin"},
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
    except subprocess.TimeoutExpired as e:
        done = e
    except OSError as e:
        print("SAFE", path, "does not run:", e.strerror)
        continue
    auxv = dict(line.split(":", 1) for line in (done.stdout or b"").decode(errors="replace").splitlines()
                if line.startswith("AT_") and ":" in line)
    euid, egid, secure = (auxv.get(k, "").strip() for k in ("AT_EUID", "AT_EGID", "AT_SECURE"))
    if auxv and euid == "1000" and egid == "1000" and secure == "0":
        print("SAFE", path, "ran with euid 1000, egid 1000, AT_SECURE 0")
    else:
        print("HOLE", path, f"ran as a secure exec or with other ids: euid={euid!r} egid={egid!r} secure={secure!r}")
for command in (["su", "-c", "id -u"], ["/usr/bin/newgrp", "root"]):
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=5)
        out = done.stdout.decode(errors="replace").strip()
        print("HOLE" if out == "0" else "SAFE", " ".join(command), "->", done.returncode, out[:60])
    except (OSError, subprocess.TimeoutExpired) as e:
        print("SAFE", " ".join(command), "->", e)
print("SAFE" if os.geteuid() == 1000 and os.getegid() == 1000 else "HOLE", "the probe's own ids are unchanged")
