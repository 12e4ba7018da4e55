"""argoexec-builder: argoexec executor images for every Windows node build.

The package follows the data flow of the design: ``matrix`` (load and validate
matrix.yaml) -> ``targets`` (select) -> ``compat`` / ``plan`` (Windows rules,
runner routing) -> later steps (render, build, smoke, publish).
"""

__version__ = "0.1.0"
