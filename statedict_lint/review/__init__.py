"""Review a change: the project index (project.py), per-class snapshots of a revision (snapshot.py), their
structural diff (structdiff.py, diff.py), the lock file (lockfile.py), git access (gitio.py) and migration
artifacts (hooks.py)."""
