"""Symlink and hard-link tricks in the box's writable places (/tmp, /work, /dev/shm).

Models symlink attacks on sandboxes and their callers: a link planted in a writable
directory that points at a host path (CVE-2021-30465 runc mount-target symlink race,
CVE-2018-15664 docker cp symlink-exchange, firejail's --private symlink bugs), links that
climb with ../ or go through /proc magic links, and hard links to host files (the
"link a setuid binary or a secret into my directory" trick).  Links are resolved in the
box's root, so every one must lead nowhere outside it.
"""
import os

canary = os.environ["CANARY_PATH"]
canary_dir = os.environ["CANARY_DIR"]
targets = {"canary": canary, "canary dir": canary_dir, "climb": "../../../../../../.." + canary,
           "via init root": "/proc/1/root" + canary, "via init cwd": "/proc/1/cwd", "host root fd": "/proc/1/fd/3",
           "via self root": "/proc/self/root/../../.." + canary_dir}
for directory in ("/tmp", "/work", "/dev/shm"):
    for label, target in targets.items():
        link = os.path.join(directory, "sbx-link")
        try:
            os.symlink(target, link)
        except OSError as e:
            print("SAFE cannot plant a link in", directory, e.strerror)
            continue
        try:
            if os.path.isdir(link):
                os.listdir(link)
                print("HOLE listed through", link, "->", label)
            else:
                with open(link, "rb") as f:
                    f.read(1)
                print("HOLE read through", link, "->", label)
        except OSError as e:
            print("SAFE", link, "->", label, e.strerror)
        try:
            # no O_CREAT: a file the box creates at that path would be its own, not the host's
            path = os.path.join(link, os.path.basename(canary)) if os.path.isdir(link) else link
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
            print("HOLE opened for writing through", link, "->", label)
        except OSError as e:
            print("SAFE write through", link, "->", label, e.strerror)
        os.unlink(link)
for source in ("/usr/bin/python3", "/etc/ld.so.cache", "/proc/self/exe", "/dev/null", canary):
    try:
        os.link(source, "/tmp/sbx-hardlink")
        print("HOLE hard-linked", source, "into /tmp")
        os.unlink("/tmp/sbx-hardlink")
    except OSError as e:
        print("SAFE hard link", source, e.strerror)
os.symlink("sbx-loop", "/tmp/sbx-loop")
try:
    open("/tmp/sbx-loop")
    print("HOLE a symlink loop resolved")
except OSError as e:
    print("SAFE symlink loop:", e.strerror)
try:
    os.rename("/tmp", "/tmp2")
    print("HOLE renamed the /tmp mount")
except OSError as e:
    print("SAFE rename /tmp:", e.strerror)
