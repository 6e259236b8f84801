"""Exit with 255 by choice: the result must say exactly that (RE, exit_code 255, no signal, no
limit), never a timeout (124 is timeout(1)'s), a sandbox error (125), not-executable (126),
not-found (127) or a death by signal (128+N: 137 = SIGKILL, 139 = SIGSEGV)."""
import sys

print("SAFE exiting with 255 on purpose", flush=True)
sys.exit(255)
