"""Will this checkpoint load into this class: torch's strict-load comparison (compare.py), explanations of the
differences (explain.py, renames.py, causes.py) and solving unbound parameters from the checkpoint (solve.py)."""
