"""Reading an offline wandb run back (its `run-ID.wandb` file), as a test checks it.

The file is wandb's record log: a 7-byte header, then 32 KiB blocks of chunks (checksum,
length, type: full, first, middle, last), each record a protobuf `Record`.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
HEADER = 7  # b":W&B", magic 0xBEE1, version
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    raw = Path(path).read_bytes()
    assert raw[:4] == b":W&B", path
    found, pending, offset = [], b"", HEADER
    while offset + 7 <= len(raw):
        if BLOCK - offset % BLOCK < 7:  # the rest of a block is padding
            offset += BLOCK - offset % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", raw[offset : offset + 7])
        data = raw[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind == 0 and length == 0:
            break
        pending = data if kind in (FULL, FIRST) else pending + data
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
    return found


def read_run(run_dir: Path) -> dict:
    """An offline run's id, name, group, job type, summary (key -> value) and history keys."""
    (path,) = Path(run_dir).glob("run-*.wandb")
    run, summary, history = None, {}, set()
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "history":
            history.update(item.key or "/".join(item.nested_key) for item in record.history.item)
    return {
        "id": run.run_id,
        "name": run.display_name,
        "group": run.run_group,
        "job_type": run.job_type,
        "summary": summary,
        "history": history,
    }
