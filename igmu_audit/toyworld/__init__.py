"""The toy world: a tiny synthetic text-to-image world with a measured detector and zoo.

A provider like any third-party package: its detector (``detector.py``), toy CLIP
(``clip.py``), lexicons (``lexicons.py``) and named models (``models.py``) are registered
through entry points in pyproject.toml, and no core module imports this package
(``tests/test_import_graph.py``). Importing it imports nothing else.
"""
