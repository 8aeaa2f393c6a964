"""From a request to runs: the options, the parsed thread, the checked request bodies, the plan (the grid) and the sweep that runs it.

Internal: the public names are ``threadrun``'s own (``threadrun.__all__``).
"""
