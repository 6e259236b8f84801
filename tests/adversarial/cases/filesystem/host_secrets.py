"""Read the host's secrets: password hashes, ssh keys, agent and daemon sockets, the canary.

Models sandboxes that bind too much (a whole /home or /etc: firejail's and flatpak's
--filesystem=home mistakes), ssh-agent and D-Bus hijacking through forwarded sockets
(flatpak CVE-2021-21261 reached the host via a D-Bus portal), the Docker socket, and
reading secrets through the kernel's views (/proc/1/environ).  None of these
exist in the box; the canary's directory is not visible by any spelling.
"""
import os

canary = os.environ["CANARY_PATH"]
canary_dir = os.environ["CANARY_DIR"]
paths = ["/etc/shadow", "/etc/gshadow", "/etc/passwd", "/etc/sudoers", "/etc/ssh/ssh_host_ed25519_key",
         "/root/.ssh/id_rsa", "/root/.ssh/authorized_keys", "/home", "/var/lib", "/var/run/docker.sock",
         "/run/docker.sock", "/run/dbus/system_bus_socket", "/run/user", "/tmp/.X11-unix/X0", "/tmp/ssh-agent",
         "/proc/1/environ", canary, canary_dir, canary_dir + "/agent.sock",
         "/tmp/" + os.path.basename(canary_dir), "/work/" + os.path.basename(canary),
         "/usr/../" + canary.lstrip("/"), "//" + canary, "/./" + canary]
for path in paths:
    try:
        if os.path.isdir(path):
            os.listdir(path)
            print("HOLE listed", path)
        else:
            with open(path, "rb") as f:
                f.read(1)
            print("HOLE read", path)
    except OSError as e:
        print("SAFE", path, e.strerror)
for name in ("SSH_AUTH_SOCK", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "DISPLAY", "GPG_AGENT_INFO"):
    print("HOLE" if name in os.environ else "SAFE", name, "is not set" if name not in os.environ else "is set")
print("SAFE" if sorted(os.listdir("/tmp")) == [] else "HOLE", "the box's /tmp starts empty:", os.listdir("/tmp"))
