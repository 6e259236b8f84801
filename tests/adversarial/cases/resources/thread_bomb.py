"""Threads count as processes: a thread bomb under --pids 16 stops at the limit."""
import threading
import time

LIMIT = 16
threads = []
try:
    while len(threads) < 10 * LIMIT:
        t = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        t.start()
        threads.append(t)
    print("HOLE started", len(threads), "threads under --pids", LIMIT)
except RuntimeError as e:
    print("SAFE" if len(threads) <= LIMIT else "HOLE", "thread creation refused after", len(threads), "threads:", e)
