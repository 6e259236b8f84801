"""Kernel-heavy socket families: netlink (routing, netfilter: CVE-2022-1015, CVE-2023-32233), packet
(CVE-2020-14386, CVE-2017-7308), AF_ALG, vsock (CVE-2021-26708), bluetooth, AF_KEY, RDS, TIPC, CAN,
XDP, also with junk in the high 32 bits of the family (the kernel reads an int) and via socketpair.
The filter allows only AF_UNIX, AF_INET and AF_INET6; all else gets ENOSYS."""
from probelib import filtered  # bound next to the probe by the harness

FAMILIES = {"AF_NETLINK": 16, "AF_PACKET": 17, "AF_ALG": 38, "AF_VSOCK": 40, "AF_BLUETOOTH": 31, "AF_KEY": 15,
            "AF_RDS": 21, "AF_TIPC": 30, "AF_CAN": 29, "AF_XDP": 44, "AF_IRDA/AF_PPPOX": 24, "AF_LLC": 26,
            "AF_APPLETALK": 5, "AF_X25": 9, "AF_AX25": 3, "AF_NETROM": 6, "AF_ROSE": 11, "AF_DECnet": 12,
            "AF_ATMPVC": 8, "AF_ISDN": 34, "AF_PHONET": 35, "AF_IEEE802154": 36, "AF_CAIF": 37, "AF_NFC": 39,
            "AF_KCM": 41, "AF_QIPCRTR": 42, "AF_SMC": 43, "AF_MCTP": 45}
for name, family in FAMILIES.items():
    filtered(f"socket({name}, SOCK_RAW, 0)", 41, family, 3, 0)
    filtered(f"socket({name}, SOCK_DGRAM, 0)", 41, family, 2, 0)
filtered("socket(AF_NETLINK with high-bit junk 0x1_00000010)", 41, (1 << 32) | 16, 3, 0)
filtered("socket(AF_PACKET with high-bit junk 0xffffffff_00000011)", 41, (0xFFFFFFFF << 32) | 17, 3, 0)
filtered("socket(AF_UNIX + 2**32 * AF_NETLINK)", 41, (16 << 32) | 17, 3, 0)
filtered("socketpair(AF_NETLINK, SOCK_RAW, 0, NULL)", 53, 16, 3, 0, 0)
filtered("socketpair(AF_INET, SOCK_STREAM, 0, NULL)", 53, 2, 1, 0, 0)
