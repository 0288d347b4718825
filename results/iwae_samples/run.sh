#!/bin/bash
# How tight is the S=500 bound? The first 200 test sentences scored at
# S = 100, 500, 2500 for the closest issue-9 row with dropout, and exactly
# for the language model it is compared with.
until [ -e /work/main/results/ptb_lm_dropout_warm_lr3e4.json ]; do sleep 20; done
cd /work/queue5
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
OUT=/work/main/results/iwae_samples
.venv/bin/python bin/evaluate --workdir=/work/main/runs/ptb_lm_dropout_long --split=test --num_samples=1 --max_examples=200 --output=$OUT/ptb_lm_dropout_long_S1.json > $OUT/log.txt 2>&1
for S in 100 500 2500; do
  .venv/bin/python bin/evaluate --workdir=/work/main/runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long --split=test --num_samples=$S --max_examples=200 --output=$OUT/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long_S$S.json >> $OUT/log.txt 2>&1
done
echo done
