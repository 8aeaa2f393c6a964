"""What the user sees and types: the ``%%threadrun`` magic, the form, the displays, Copy as cell, notices, progress and the ``threadrun`` command.

Internal: the public names are ``threadrun``'s own (``threadrun.__all__``).
"""
