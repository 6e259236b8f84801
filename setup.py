"""The one compiled part, the target's last mile (sandbox/_lastmile.c); everything else is in pyproject.toml.

scripts/setup builds it into the staged tree at every setup (`setup.py build_ext --inplace`), since the
editable install runs only when pyproject.toml changes; a wheel or an sdist build compiles it too."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("sandbox._lastmile", ["sandbox/_lastmile.c"], extra_compile_args=["-Wall", "-Wextra"])])
