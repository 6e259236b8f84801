"""The rig the host-side tests stand on: a real second user, with processes of its own."""
from __future__ import annotations

import os

from rival import as_rival, flipping, rival_directory


def test_the_rival_is_another_user_whose_directory_we_cannot_write() -> None:
    assert as_rival("id", "-u").stdout.decode().strip() != str(os.getuid())
    with rival_directory() as directory:
        assert directory.stat().st_uid != os.getuid()
        assert not os.access(directory, os.W_OK)


def test_the_rivals_flipper_swaps_a_directory_and_a_symlink() -> None:
    with rival_directory() as directory:
        as_rival("mkdir", str(directory / "data"))
        as_rival("ln", "-s", "/", str(directory / "evil"))
        seen = set()
        with flipping(directory, "data", "evil"):
            for _ in range(20000):
                seen.add(os.path.islink(directory / "data"))
                if len(seen) == 2:
                    break
        assert seen == {True, False}
