"""Exit with 125 by choice: the result must say exactly that (RE, exit_code 125, no signal, no
limit), never a timeout (124 is timeout(1)'s), a sandbox error (125), not-executable (126),
not-found (127) or a death by signal (128+N: 137 = SIGKILL, 139 = SIGSEGV)."""
import sys

print("SAFE exiting with 125 on purpose", flush=True)
sys.exit(125)
