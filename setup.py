"""Build the one C extension (the alias-table index drawer); everything else is in pyproject.toml.

The extension is optional: where it does not compile (no C compiler, no Python headers) the
build warns and installs the package without it, and ``swift_sampler.draw`` uses its NumPy
fallback (the same draws, slower; one warning when used). Set
``SWIFT_SAMPLER_REQUIRE_EXTENSION=1`` to make a failed compile fail the build instead, as a
wheel builder should.
"""

import os

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "swift_sampler._draw",
            sources=["src/swift_sampler/_draw.c"],
            extra_compile_args=["-O3", "-std=c99"],
            optional=os.environ.get("SWIFT_SAMPLER_REQUIRE_EXTENSION") != "1",
        )
    ]
)
