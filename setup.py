"""Build the one C extension (the alias-table index drawer); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "swift_sampler._draw",
            sources=["src/swift_sampler/_draw.c"],
            extra_compile_args=["-O3", "-std=c99"],
        )
    ]
)
