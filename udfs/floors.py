"""The floor rule as a SQL-callable Python function (once per segment and window).

The function is shipped to the Python workers by value (see `register`), so the
workers need neither this repository nor the zip's folders on their path: the same
code runs in the local mini cluster and on MSF, whatever the workers' working
directory.
"""

from __future__ import annotations

import cloudpickle
from pyflink.table import DataTypes, TableEnvironment
from pyflink.table.udf import udf

import udfs
from udfs import rules

# Pickle every udfs.* module by value rather than by import path.
cloudpickle.register_pickle_by_value(udfs)


@udf(result_type=DataTypes.DOUBLE())
def floor_from_cpm(predicted_cpm_eur: float, data_points: int, prime_time: bool, premium: bool) -> float:
    return rules.floor_price(predicted_cpm_eur, data_points, prime_time, premium)


def register(t_env: TableEnvironment) -> None:
    t_env.create_temporary_function("floor_from_cpm", floor_from_cpm)
