"""Egress to anywhere: public resolvers, the cloud metadata service, container and VM gateways, private
ranges, IPv6, by TCP and UDP, and name resolution.  The box's network namespace has only `lo`, so
every route is missing (ENETUNREACH) and nothing leaves the host."""
import socket

TARGETS = [("1.1.1.1", 53), ("8.8.8.8", 53), ("169.254.169.254", 80), ("10.0.2.2", 22), ("10.0.2.3", 53),
           ("172.17.0.1", 2375), ("192.168.1.1", 80), ("100.100.100.200", 80), ("224.0.0.251", 5353),
           ("255.255.255.255", 67), ("2001:4860:4860::8888", 53), ("fe80::1%1", 22), ("fd00:ec2::254", 80)]
for host, port in TARGETS:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(family, kind)
        s.settimeout(2)
        try:
            if kind == socket.SOCK_STREAM:
                s.connect((host, port))
                print("HOLE connected to", host, port)
            else:
                if host.startswith("255."):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                s.sendto(b"probe", (host, port))
                print("HOLE sent a datagram to", host, port)
        except OSError as e:
            print("SAFE", "tcp" if kind == socket.SOCK_STREAM else "udp", host, port, e.strerror or e)
        finally:
            s.close()
for name in ("example.com", "localhost.localdomain", "metadata.google.internal"):
    try:
        print("HOLE resolved", name, socket.getaddrinfo(name, 80)[0][4])
    except OSError as e:
        print("SAFE resolve", name, e)
with open("/proc/net/route") as f:
    routes = f.read().splitlines()[1:]
print("SAFE no IPv4 route" if not routes else f"HOLE routes: {routes}")
