"""What the breath-hold motion analysis adds to `qa check` (issue 12: at most 20 %).

    .venv/bin/python benchmarks/bench_motion.py [--slices 60] [--matrix 512] [--repeats 5]

A synthetic step-and-shoot calcium-score exam (``qa synth exam``, 3 mm slices in 40 mm stacks) is
written once.  Then, alternately and in the same run: the whole exam check
(:func:`qa.workflows.exam.check_exam_files`, which now includes the motion analysis) and the motion
analysis alone (:func:`qa.workflows.exam.exam_motion`: reading the checked series' pixels, the
exam's headers being read already, and registering the stack boundaries).  Printed: both medians and the motion's share over the rest of the check.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the qa command runs (qa/cli/__init__.py), before numpy is imported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--matrix", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from qa.procedures import load_protocol
    from qa.workflows.exam import check_exam_files, exam_motion
    from qa.workflows.exam_files import read_exam_files
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "exam"
        thickness = 3.0
        stacks = max(2, math.ceil(args.slices * thickness / 40.0))
        synthesize_exam(folder, ExamSynthOptions(matrix=args.matrix, pixel_mm=256.0 / args.matrix, stacks=stacks,
                                                 shifts_mm=((1, 0.0, 2.0, 0.0),)))
        found = read_exam_files([folder])
        n = len(found.exam.headers.sop_instance_uids)
        protocol = load_protocol(found.protocol.id)

        def whole():
            return check_exam_files([folder])

        def motion():
            return exam_motion(found.series, protocol)

        def process():  # what the technologist waits for: the whole command, start-up included
            subprocess.run([sys.executable, "-m", "qa", "check", str(folder)], capture_output=True, check=False)

        whole(), motion(), process()  # warm the OS cache and the imports
        totals, parts, processes = [], [], []
        for _ in range(args.repeats):
            for timings, action in ((totals, whole), (parts, motion), (processes, process)):
                t0 = time.perf_counter()
                action()
                timings.append(time.perf_counter() - t0)
        total, part, command = statistics.median(totals), statistics.median(parts), statistics.median(processes)
        rest = max(total - part, 1e-9)
        print(f"exam of {n} images ({stacks} stacks, {args.matrix} x {args.matrix}), median of {args.repeats} rounds:")
        print(f"  in process: the check {total:.3f} s, of which the motion analysis {part:.3f} s: motion adds "
              f"{100 * part / rest:.0f} % to the rest of the check")
        print(f"  the whole `qa check` command {command:.3f} s: motion adds {100 * part / max(command - part, 1e-9):.0f} % "
              f"to the command without it (target <= 20 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
