"""Read the caller's environment: HOME, SSH_*, tokens, the harness's own variables.

Models leaks through inherited environments: CI secrets and cloud tokens in env vars
(the GitHub Actions/GitLab "print env" exfiltration), SSH_AUTH_SOCK to ride the caller's
ssh-agent, HOME/USER naming the host account, and a judge's answer path in a variable.
Only the py3 profile's variables and the harness's --env ones may be set, in this process,
in /proc/self/environ, and nothing of the caller's is readable in the init's environ.
"""
import os

PROFILE = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONUNBUFFERED": "1"}
HARNESS = {"CANARY_PATH", "CANARY_DIR", "SENTINEL_PID", "HOST_TCP_PORT", "HOST_ABSTRACT", "HOST_UNIX_PATH"}
env = dict(os.environ)
for key, value in PROFILE.items():
    print("SAFE" if env.get(key) == value else "HOLE", f"{key}={env.get(key)!r} (the profile says {value!r})")
extra = sorted(set(env) - set(PROFILE) - HARNESS)
print(f"HOLE variables of the caller: {extra}" if extra else "SAFE no variable but the profile's and --env's")
for prefix in ("SSH_", "SUDO_", "XDG_", "DBUS_", "SANDBOX_", "PYTEST", "VIRTUAL_ENV", "USER", "LOGNAME", "MAIL", "CI",
               "GITHUB_", "AWS_", "TOKEN", "SECRET", "PWD", "OLDPWD", "TERM", "DISPLAY", "LD_"):
    hits = [k for k in env if k.startswith(prefix)]
    print(f"HOLE {prefix}* set: {hits}" if hits else f"SAFE no {prefix}* variable")
with open("/proc/self/environ", "rb") as f:
    raw = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
print("SAFE" if set(raw) == {k.encode() for k in env} else "HOLE", "/proc/self/environ holds the same names")
print("SAFE" if "/opt/sandbox" not in env["PATH"] and "venv" not in env["PATH"] else "HOLE", "PATH is the profile's")
try:
    open("/proc/1/environ", "rb").read()
    print("HOLE the init's environment (the caller's) is readable")
except OSError as e:
    print("SAFE /proc/1/environ:", e.strerror)
