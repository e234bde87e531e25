"""Availability: pure interval algebra, recurrence expansion and working hours (no I/O here).

Instants are whole POSIX seconds (``int``) inside this package: comparisons and
bisect on ints are several times faster than on aware datetimes, and every
calendar time we deal with has whole-second precision. Conversion happens at
the edges (``to_epoch`` / ``from_epoch``).
"""
