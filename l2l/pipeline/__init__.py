"""The inference path: formulate -> write programs -> execute -> repair -> vote.

Training rewards walk the same functions (see l2l/train/rewards.py)."""
