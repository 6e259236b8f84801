"""Abstract unix sockets belong to the network namespace: the host's (the planted one, X11's, the
containerd-shim sockets of CVE-2020-15257, systemd's, dbus's) are unreachable, by exact name and by
prefix guesses; and one the box binds is its own (bound twice in a row within the box it clashes)."""
import os
import socket

names = [os.environ["HOST_ABSTRACT"], "/tmp/.X11-unix/X0", "/tmp/.X11-unix/X1", "/containerd-shim/moby.sock",
         "/org/freedesktop/systemd1/notify", "/run/systemd/private", "dbus-session", "/tmp/dbus-socket",
         "/var/run/docker.sock", "ssh-agent", "jdwp", os.environ["HOST_ABSTRACT"][:-1]]
for name in names:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        s = socket.socket(socket.AF_UNIX, kind)
        try:
            s.connect("\0" + name)
            print("HOLE connected to abstract", repr(name), kind)
        except OSError as e:
            if e.errno != 111:  # anything but ECONNREFUSED means the name exists here
                print("HOLE abstract", repr(name), kind, e.strerror)
        finally:
            s.close()
print("SAFE none of", len(names), "host abstract names answers")
mine = socket.socket(socket.AF_UNIX)
mine.bind("\0" + os.environ["HOST_ABSTRACT"])  # the host's name is free in the box: namespaces differ
print("SAFE bound the host's abstract name inside the box: a separate namespace")
mine.close()
