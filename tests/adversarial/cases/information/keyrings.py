"""Read the caller's kernel keys: session and user keyrings, Kerberos tickets, fs keys.

Models the Docker/runc keyring leak (containers shared the host's session keyring, so
one container could read keys another had stored; runc now joins a fresh session keyring,
and Docker's seccomp profile filters keyctl/add_key/request_key) and reading credentials
that NFS, CIFS, ecryptfs or Kerberos keep in a user's keyrings.  keyctl, add_key and
request_key must be filtered, so no key's payload can be read or any key added.

Accepted limitation: the box runs as the caller's uid on the host, so /proc/keys lists
(by description only) the keyrings the caller can view, such as _uid.<host uid> and the
caller's session keyring; their payloads need keyctl, which is filtered.
"""
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = 11, -3, -4
for label, number, args in (("keyctl(READ, session keyring)", 250, (KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, None, 0)),
                            ("keyctl(READ, user keyring)", 250, (KEYCTL_READ, KEY_SPEC_USER_KEYRING, None, 0)),
                            ("keyctl(bad op)", 250, (0x7FFF, 0, 0, 0)),
                            ("add_key(NULL...)", 248, (None, None, None, 0, 0)),
                            ("request_key(NULL...)", 249, (None, None, None, 0))):
    ctypes.set_errno(0)
    ret = libc.syscall(number, *args)
    err = ctypes.get_errno()
    print("SAFE" if ret == -1 and err == errno.ENOSYS else "HOLE", label, ret, errno.errorcode.get(err, err))
with open("/proc/keys") as f:
    keys = [line.split(None, 8) for line in f]
for key in keys:
    print("NOTE visible in /proc/keys (description only):", key[7] if len(key) > 7 else "?", key[-1].strip()[:40])
