"""What a run leaves: its result, its DataFrame row, the run log and the comparisons over rows."""
