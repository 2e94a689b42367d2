"""Build the C extensions; everything else is in pyproject.toml.

Each extension gets the SHA-256 of its C source compiled in (``SOURCE_SHA256``), so that
``transitwatch.native.check`` can refuse a ``.so`` left over from an older source.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

FLAGS = ["-O2", "-std=c11", "-Wall", "-Wno-unused-function"]


def extension(name: str, source: str) -> Extension:
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    return Extension(name, sources=[source], extra_compile_args=FLAGS,
                     define_macros=[("SOURCE_SHA256", f'"{digest}"')])


setup(
    ext_modules=[
        extension("transitwatch.sources._mrt", "src/transitwatch/sources/_mrt.c"),
        extension("transitwatch.metrics._asrank", "src/transitwatch/metrics/_asrank.c"),
        extension("transitwatch.store._intern", "src/transitwatch/store/_intern.c"),
        extension("transitwatch.state._table", "src/transitwatch/state/_table.c"),
    ]
)
