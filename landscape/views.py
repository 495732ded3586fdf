"""The views of one evaluation: which split it reads and how BatchNorm statistics move."""

SPLITS = ("test", "train", "val")
BN_POLICIES = ("interpolate", "recompute")


def view_name(split: str, bn: str) -> str:
    """`test/interpolate`: the key of one (split, BN policy) view in results.json."""
    return f"{split}/{bn}"


VIEWS = [view_name(split, bn) for split in SPLITS for bn in BN_POLICIES]
