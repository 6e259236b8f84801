"""Who am I: uid, gid, supplementary groups, capabilities, and can I become someone else.

Models escalation from a sandbox that maps root or keeps capabilities (LXC/Docker
"root in the container is root on the host" before user namespaces; CVE-2018-18955, a
nested user-namespace id-map bug), and group-based access that survives the sandbox.
The program is uid/gid 1000 in every slot, holds no capability, and cannot change ids
(setuid and friends are filtered).

Accepted limitation (SECURITY.md, "Supplementary groups"): a rootless box cannot drop the
caller's supplementary groups; they show as 1000 (the caller's primary group) or 65534
(unmapped).  /proc/self/uid_map also names the caller's host uid and gid.
"""
import ctypes
import errno
import os

print("SAFE" if os.getresuid() == (1000, 1000, 1000) else "HOLE", "uids", os.getresuid())
print("SAFE" if os.getresgid() == (1000, 1000, 1000) else "HOLE", "gids", os.getresgid())
groups = os.getgroups()
print("SAFE" if set(groups) <= {1000, 65534} else "HOLE", "supplementary groups", groups, "(only 1000 or 65534)")
with open("/proc/self/status") as f:
    status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    print("SAFE" if int(status[key], 16) == 0 else "HOLE", key, status[key])
print("SAFE" if status["NoNewPrivs"] == "1" else "HOLE", "NoNewPrivs", status["NoNewPrivs"])
with open("/proc/self/uid_map") as f:
    uid_map = [line.split() for line in f]
with open("/proc/self/gid_map") as f:
    gid_map = [line.split() for line in f]
print("SAFE" if len(uid_map) == 1 and uid_map[0][0] == "1000" and uid_map[0][2] == "1" else "HOLE",
      "one uid is mapped, 1000 -> the caller's:", uid_map)
print("SAFE" if len(gid_map) == 1 and gid_map[0][0] == "1000" and gid_map[0][2] == "1" else "HOLE",
      "one gid is mapped:", gid_map)
print("SAFE" if uid_map[0][1] != "0" else "HOLE", "the box's uid is not host root")
with open("/proc/self/setgroups") as f:
    print("SAFE" if f.read().strip() == "deny" else "HOLE", "setgroups is denied")
libc = ctypes.CDLL(None, use_errno=True)
for name, number, args in (("setuid(0)", 105, (0,)), ("setgid(0)", 106, (0,)), ("setresuid(0,0,0)", 117, (0, 0, 0)),
                           ("setgroups(0, NULL)", 116, (0, None)), ("setfsuid(0)", 122, (0,)),
                           ("capset(NULL, NULL)", 126, (None, None))):
    ctypes.set_errno(0)
    ret = libc.syscall(number, *args)
    err = ctypes.get_errno()
    print("SAFE" if ret == -1 and err == errno.ENOSYS else "HOLE", name, ret, errno.errorcode.get(err, err))
print("SAFE" if os.getresuid() == (1000, 1000, 1000) else "HOLE", "uids after the attempts", os.getresuid())
