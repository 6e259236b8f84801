"""Kernel keyrings are not namespaced: a key added in the box would land in the caller's user
keyring (CVE-2016-0728 and friends; docker and flatpak filter them).  NULL pointers: EFAULT if allowed."""
from probelib import filtered  # bound next to the probe by the harness

filtered("add_key(NULL, NULL, NULL, 0, KEY_SPEC_USER_KEYRING)", 248, 0, 0, 0, 0, (-4) & 0xFFFFFFFF)
filtered("request_key(NULL, NULL, NULL, 0)", 249, 0, 0, 0, 0)
filtered("keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)", 250, 0, -4, 0)
filtered("keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)", 250, 1, 0)
filtered("keyctl(KEYCTL_READ, -1, NULL, 0)", 250, 11, -1, 0, 0)
