"""What a run leaves: its result, its DataFrame row, the run log and the comparisons over rows.

Internal: the public names are ``threadrun``'s own (``threadrun.__all__``).
"""
