"""Short garbage-collector pauses in a server process.

CPython's cyclic collector walks every tracked object of a generation when
it runs. A Daphne process holds Django, its apps and every imported module
(about 130,000 objects) for its whole life, and the oldest generation's
collections walked them all: pauses of 60 to 130 ms under load, stalling
every socket of the process at once (bench/README.md, "Garbage
collection"). Freezing what exists when the first socket opens takes
those objects out of every later collection; a larger young generation
makes collections rarer. Objects created later are collected as before.
"""

import gc

from django.conf import settings

_state = {"settled": False}


def settle() -> bool:
    """Freeze the start-up heap and set the thresholds, once per process.

    Returns False if it was done already.
    """
    if _state["settled"]:
        return False
    _state["settled"] = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings.SERVER_GC_THRESHOLDS)
    return True
