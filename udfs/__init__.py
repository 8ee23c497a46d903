"""The Python functions the job's workers call, and the pure business rules they apply."""

from __future__ import annotations

import sys


def ship_by_value() -> None:
    """Pickle udfs/ and schemas/ by value into the Python functions the job registers.

    Workers (on MSF, and the local mini cluster's) then need only pip packages, not this
    repository on their path. Called by each function factory, before PyFlink pickles it.
    """
    import cloudpickle

    import schemas

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cloudpickle.register_pickle_by_value(schemas)
