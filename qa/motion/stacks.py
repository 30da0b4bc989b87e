"""The stacks of a step-and-shoot series: the rule lives in :mod:`qa.records.stacks` (one rule for the
header checks, the gating windows and the motion analysis); here under its feature's name."""

from qa.records.stacks import MIN_STACK_SLICES, SAME_TIME_S, StackRun, StackSplit, find_stacks

__all__ = ["MIN_STACK_SLICES", "SAME_TIME_S", "StackRun", "StackSplit", "find_stacks"]
