"""A KCL record processor that logs every record it is given: shard, sequence number, impression.

The MultiLangDaemon starts one of these per shard lease (``executableName`` in the properties)
and talks to it over stdin/stdout; so this module prints nothing and writes its log to the file
named by $KCL_READ_LOG (one JSON line per record, the same fields as the producer's log).
Checkpoints after every batch and at shard end (KCL reads a child only once its parent is
checkpointed at SHARD_END).
"""

from __future__ import annotations

import json
import os

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor

from simulator.producer import impression_id_key


class RecordLogger(processor.RecordProcessorBase):
    def __init__(self, log_path: str):
        self.log_path = log_path
        self.shard_id = ""

    def initialize(self, initialize_input) -> None:  # noqa: ANN001 - amazon_kclpy message types
        self.shard_id = initialize_input.shard_id

    def process_records(self, process_records_input) -> None:  # noqa: ANN001
        lines = [
            json.dumps({"impression_id": impression_id_key(r.binary_data), "partition_key": r.partition_key,
                        "shard_id": self.shard_id, "sequence_number": r.sequence_number}, separators=(",", ":"))
            for r in process_records_input.records
        ]
        if lines:
            # Several processes append to one file: one write per batch, in append mode.
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        process_records_input.checkpointer.checkpoint()

    def lease_lost(self, lease_lost_input) -> None:  # noqa: ANN001
        pass

    def shard_ended(self, shard_ended_input) -> None:  # noqa: ANN001
        shard_ended_input.checkpointer.checkpoint()

    def shutdown_requested(self, shutdown_requested_input) -> None:  # noqa: ANN001
        shutdown_requested_input.checkpointer.checkpoint()


if __name__ == "__main__":
    kcl.KCLProcess(RecordLogger(os.environ["KCL_READ_LOG"])).run()
