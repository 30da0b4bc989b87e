"""Accuracy of the breath-hold motion analysis on synthetic exams with known motion (issue 12, point 5).

    .venv/bin/python benchmarks/motion_accuracy.py [--free 50] [--matrix 256]

Prints four tables, each from exams written to disk as DICOM and analysed through
:func:`qa.workflows.motion.analyse_series_motion` (the code ``qa motion`` runs):

1. in-plane shift error (LR, AP; mm) over 1-3 mm slices and 10-30 HU noise (``qa synth exam``:
   contiguous stacks, the synthesiser independent of the analysis);
2. the boundary flagged for a shift of 1, 2 and 3 mm (which boundaries warn or fail);
3. warnings in ``--free`` motion-free exams with different seeds;
4. the craniocaudal error where stacks overlap in z (interleaved and repeated positions; the
   overlap generator of the motion tests, tests/motion_exams.py, since ``qa synth exam`` writes a
   contiguous series).

Targets: in-plane within 0.5 mm, craniocaudal within 1 mm, the right boundary flagged for >= 2 mm,
no warning in the motion-free exams.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _synth(folder: Path, matrix: int, **options):
    from qa.workflows.synth import ExamSynthOptions, synthesize_exam

    return synthesize_exam(folder, ExamSynthOptions(matrix=matrix, pixel_mm=256.0 / matrix, **options))


def _analyse(folder: Path):
    from qa.workflows.motion import analyse_series_motion

    return analyse_series_motion(folder).analysis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--free", type=int, default=50, help="motion-free exams (default 50)")
    parser.add_argument("--matrix", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = itertools.count()

        print("1. in-plane shift error (mm): stack 2 moved (LR +1.3, AP -0.8), stack 3 (LR +1.3, AP +1.2)")
        print(f"   {'slice mm':>8} {'noise HU':>8} {'max |err| LR':>13} {'max |err| AP':>13}")
        worst = 0.0
        for thickness, noise in itertools.product((1.0, 2.0, 3.0), (10.0, 20.0, 30.0)):
            folder = root / f"e{next(n)}"
            made = _synth(folder, args.matrix, seed=int(10 * thickness + noise), thickness_mm=thickness, noise_hu=noise,
                          shifts_mm=((2, 1.3, -0.8, 0.0), (3, 1.3, 1.2, 0.0)))
            truth = {tuple(b["between"]): b["shift_mm"] for b in made.truth["boundaries"]}
            result = _analyse(folder)
            lr = max(abs(b.shift_mm.lr - truth[b.between]["lr"]) for b in result.boundaries)
            ap = max(abs(b.shift_mm.ap - truth[b.between]["ap"]) for b in result.boundaries)
            worst = max(worst, lr, ap)
            print(f"   {thickness:8.0f} {noise:8.0f} {lr:13.2f} {ap:13.2f}")
        print(f"   worst {worst:.2f} mm (target <= 0.5)")

        print("\n2. which boundary is flagged (stack 2 onward moved LR by the shift; 3 mm slices and 1 mm slices, 20 HU)")
        print(f"   {'slice mm':>8} {'shift mm':>8}  statuses of boundaries 0|1 1|2 2|3")
        for thickness, shift in itertools.product((3.0, 1.0), (1.0, 2.0, 3.0)):
            folder = root / f"e{next(n)}"
            _synth(folder, args.matrix, seed=70 + int(shift), thickness_mm=thickness, noise_hu=20.0,
                   shifts_mm=((2, shift, 0.0, 0.0), (3, shift, 0.0, 0.0)))
            result = _analyse(folder)
            print(f"   {thickness:8.0f} {shift:8.0f}  {' '.join(b.status for b in result.boundaries)}")

        print(f"\n3. motion-free exams: {args.free} seeds, 1-3 mm slices, 10-30 HU")
        flagged, largest = [], 0.0
        for seed in range(args.free):
            folder = root / f"e{next(n)}"
            thickness, noise = (1.0, 2.0, 3.0)[seed % 3], (10.0, 20.0, 30.0)[(seed // 3) % 3]
            _synth(folder, args.matrix, seed=1000 + seed, thickness_mm=thickness, noise_hu=noise)
            result = _analyse(folder)
            largest = max(largest, result.largest_shift_mm or 0.0)
            if result.status != "pass":
                flagged.append((seed, result.status, result.message))
        print(f"   {len(flagged)} of {args.free} not passed; largest shift measured {largest:.2f} mm")
        for seed, status, message in flagged:
            print(f"   seed {1000 + seed}: {status}: {message}")

        print("\n4. craniocaudal error where stacks overlap (stack 1 moved CC, AP +1 mm; DICOM files)")
        sys.path.insert(0, str(ROOT / "tests"))
        from motion_exams import ExamSpec, write_exam

        nulls = 0
        print(f"   {'overlap':>12} {'slice mm':>8} {'noise HU':>8} {'true cc':>7} {'measured':>8} {'|err|':>6}")
        worst = 0.0
        for offset, (thickness, noise, cc) in itertools.product((0.5, 0.0), ((3.0, 10.0, 2.0), (2.0, 20.0, -1.5), (1.0, 30.0, 1.0),
                                                                              (3.0, 30.0, -3.0))):
            spec = ExamSpec(n_stacks=3, slices_per_stack=max(6, int(18 / thickness)), overlap_slices=max(2, int(6 / thickness)),
                            overlap_offset=offset, thickness_mm=thickness, noise_hu=noise, matrix=128, pixel_mm=2.0,
                            head_to_feet=False, shifts_mm=((0, 0, 0), (0.0, 1.0, cc), (0.0, 1.0, cc)))
            folder = write_exam(spec, root / f"e{next(n)}")
            got = _analyse(folder).boundaries[0].shift_mm.cc
            kind = "interleaved" if offset else "repeated"
            if got is None:  # the overlap cannot show this offset: reported as not measurable
                nulls += 1
                print(f"   {kind:>12} {thickness:8.0f} {noise:8.0f} {cc:7.1f} {'null':>8} {'-':>6}")
                continue
            err = abs(got - cc)
            worst = max(worst, err)
            print(f"   {kind:>12} {thickness:8.0f} {noise:8.0f} {cc:7.1f} {got:8.2f} {err:6.2f}")
        print(f"   worst {worst:.2f} mm over the measured (target <= 1); {nulls} null (offset beyond what the overlap shows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
