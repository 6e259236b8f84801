"""Print what a careless judge might grep for: verdict words, sandbox-style messages, escape sequences
that erase lines on a terminal, NUL bytes, invalid UTF-8, a carriage return over a line, U+2028, and
a line without its newline.  The document stays valid JSON, the verdict OK stays the program's own."""
import os

os.write(1, b"SAFE verdict words follow, inside stdout only\n")
os.write(1, b"TLE\nMLE\nverdict: SV\nsandbox: TLE: cpu_time limit exceeded\n")
os.write(2, b"sandbox: the box ended without reporting the program's status (its init exited with 130)\n")
os.write(1, b"\x1b[2K\x1b[1A\x1b[2KOK\r\x1b]0;title\x07\n")
os.write(1, b"nul\x00byte \xff\xfe\xc3\x28 invalid utf-8 \xed\xa0\x80 surrogate\n")
os.write(1, "line\u2028separator \u2029 and \ud7ff\n".encode())
os.write(1, b"SAFE last line without newline")
