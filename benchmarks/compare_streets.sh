#!/usr/bin/env bash
# CRN vs pix2pix on the embedded street scenes, with equal training budgets and the real photos as
# the upper bound: the protocol behind the comparison table of the README.
#
#   bash benchmarks/compare_streets.sh                 # everything, ~2.5 h on a 2-core CPU
#   BUDGET=20 SEG_BUDGET=8 bash benchmarks/compare_streets.sh   # a quick version
#   SIDE_BY_SIDE=1 BUDGET=25 SEG_BUDGET=15 WORKERS=0 PIX2PIX_STEPS=6000 bash benchmarks/compare_streets.sh
#                                                    # the README table (~70 min)
#
# Steps (each is skipped when its output already exists, so the script can be re-run):
#   1. render the street data (400 train / 50 val scenes at 128x256);
#   2. train the FCN-score segmenter on the REAL training photos; it scores itself on the real val
#      photos (segmenter/val_metrics.json: the upper bound every report quotes);
#   3. train CRN and pix2pix for the same wall-clock budget (--max-minutes $BUDGET) on the same data;
#   4. `imsynth evaluate` each run (its own report: all variants, loss curves) and `imsynth compare`
#      both on the same 50 val layouts: compare/table.md is the README table, compare/report.html
#      the full report (metric table, per-class IoU, one grid, networks and image counts).
#
# FID is added to every table when the pytorch-fid Inception weights are supplied:
#   IMSYNTH_INCEPTION_WEIGHTS=/path/pt_inception-2015-12-05-6726825d.pth bash benchmarks/compare_streets.sh
set -euo pipefail

OUT=${OUT:-runs/compare_streets}
DATA=${DATA:-$OUT/data}
SIZE=${SIZE:-128x256}        # every image and layout: HEIGHTxWIDTH
BUDGET=${BUDGET:-60}         # minutes of training for each synthesis method (the same for both)
SEG_BUDGET=${SEG_BUDGET:-30} # minutes of training for the segmenter
WORKERS=${WORKERS:-1}
PYTHON=${PYTHON:-.venv/bin/python}

imsynth() { nice -n 10 "$PYTHON" -m imsynth "$@"; }
mkdir -p "$OUT"

# 1. Data: the procedural street scenes in Cityscapes format (labels + photos).
if [ ! -f "$DATA/streets.json" ]; then
  imsynth data streets --out "$DATA" --train 400 --val 50 --size "$SIZE" --workers 2
fi

# 2. The FCN-score segmenter, trained on the real photos only (never on synthesized ones).
if [ ! -d "$OUT/segmenter/checkpoints" ]; then
  imsynth train segmenter --data "$DATA" --out "$OUT/segmenter" --size "$SIZE" \
    --max-minutes "$SEG_BUDGET" --workers "$WORKERS"
fi

# 3. The two synthesis methods, same data, same wall-clock budget.
#    CRN: the paper's cascade at 128x256 (6 modules), k = 3 variants with the diversity loss, widths
#    scaled by 1/16 for a CPU, EfficientNet-Lite0 loss network (offline).
#    pix2pix: the paper's recipe at 128 px (unet_128, jitter 143 -> random crop 128, flips), trained as
#    in the paper on squashed square images; --max-steps sets its learning-rate schedule (constant,
#    then linear decay over the second half): choose it so that the budget reaches it.
#    SIDE_BY_SIDE=1 trains both at once, one core each (OMP_NUM_THREADS=1): on a shared machine both
#    then see the same load, which makes equal wall-clock budgets fairer than two runs in sequence.
train_crn() {
  imsynth train crn --data "$DATA" --out "$OUT/crn" --size "$SIZE" --variants 3 --width-multiplier 0.0625 \
    --backbone efficientnet_lite0 --max-minutes "$BUDGET" --workers "$WORKERS"
}
train_pix2pix() {
  imsynth train pix2pix --data "$DATA" --out "$OUT/pix2pix" --generator unet_128 --load-size 143 --crop-size 128 \
    --max-steps "${PIX2PIX_STEPS:-20000}" --max-minutes "$BUDGET" --workers "$WORKERS"
}
if [ "${SIDE_BY_SIDE:-0}" = 1 ]; then
  export OMP_NUM_THREADS=1
  [ -d "$OUT/crn/checkpoints" ] || train_crn > "$OUT/crn.log" 2>&1 &
  [ -d "$OUT/pix2pix/checkpoints" ] || train_pix2pix > "$OUT/pix2pix.log" 2>&1 &
  wait
  unset OMP_NUM_THREADS
else
  [ -d "$OUT/crn/checkpoints" ] || train_crn
  [ -d "$OUT/pix2pix/checkpoints" ] || train_pix2pix
fi

# 4. Scores. pix2pix is run at the square size it learned (128x128, the paper's test protocol) and its
#    outputs resized back to the 128x256 layouts: RUN@HxW.
SEG_ARGS=(--data "$DATA" --split val --segmenter "$OUT/segmenter")
imsynth evaluate --checkpoint "$OUT/crn" "${SEG_ARGS[@]}" --out "$OUT/crn/evaluation_val"
imsynth evaluate --checkpoint "$OUT/pix2pix" --synthesis-size 128x128 --variants 3 "${SEG_ARGS[@]}" \
  --out "$OUT/pix2pix/evaluation_val"
imsynth compare "$OUT/crn" "$OUT/pix2pix@128x128" --variants 3 "${SEG_ARGS[@]}" --out "$OUT/compare"

echo "README table: $OUT/compare/table.md; report: $OUT/compare/report.html"
