"""Reads nothing and sleeps forever: only a wall limit ends it (and the interactor waiting on it)."""
import time

while True:
    time.sleep(3600)
