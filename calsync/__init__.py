"""calsync's shared kernel: the error tree, the clock port and the bus envelope.

The four role packages (``daemon``, ``handlers``, ``channels``, ``store``) all
import from here; this package imports none of them.
"""

__version__ = "0.1.0"
