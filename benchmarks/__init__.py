"""threadrun's benchmarks: ``python -m benchmarks [--quick]`` (see benchmarks/README.md).

One command measures, side by side in the same run, against the local server started in a
separate process: time-to-row, client overhead per run, a concurrent sweep, ``%load_ext``
start-up, memory of a large sweep, and the run log. It prints the machine, then a markdown
table of medians and ratios; full mode exits 1 when a target is missed, ``--quick`` only reports.
"""
