"""Files into a box and out of it: the host's end, the box's end, and the format between.

host     the supervisor's end: the caller's files (--file, --stdin, --stdout, --stderr,
         --result, --collect-dir), each found once by descriptor (hostpaths) and held;
packing  the one format both ends read and write: entries in a memfd, nothing on disk;
box      the init's end: written into the box's work dir before the program, collected
         out of it after.
"""
