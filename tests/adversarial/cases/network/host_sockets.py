"""Filesystem sockets of the host that escapes go for: D-Bus (system and session bus), the Docker and
containerd daemons, systemd (private, notify, journal), syslog, X11/Wayland, ssh-agent; and the
environment variables that point at them.  None is mounted in the box."""
import glob
import os
import socket

paths = ["/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket", "/var/run/docker.sock",
         "/run/docker.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock", "/run/systemd/private",
         "/run/systemd/notify", "/run/systemd/journal/socket", "/run/systemd/journal/stdout", "/dev/log",
         "/tmp/.X11-unix/X0", "/run/snapd.socket", "/var/run/libvirt/libvirt-sock", os.environ["HOST_UNIX_PATH"]]
paths += glob.glob("/run/user/*/bus") + glob.glob("/run/user/*/wayland-*") + glob.glob("/run/user/*/systemd/private")
paths += glob.glob("/tmp/ssh-*/agent.*") + glob.glob("/run/user/*")
for path in paths:
    if not os.path.lexists(path):
        print("SAFE absent", path)
        continue
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        print("HOLE connected to", path)
    except OSError as e:
        print("HOLE present (not connectable:", e.strerror + ")", path)
    finally:
        s.close()
for var in ("DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS", "NOTIFY_SOCKET", "SSH_AUTH_SOCK", "DISPLAY",
            "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DOCKER_HOST", "LISTEN_FDS", "INVOCATION_ID", "JOURNAL_STREAM"):
    print("HOLE environment has", var) if var in os.environ else print("SAFE no", var)
print("SAFE /run absent" if not os.path.exists("/run") else f"SAFE /run holds {os.listdir('/run')}")
