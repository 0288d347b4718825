#!/bin/bash
# How tight is the S=500 bound? The first 200 test sentences scored at
# S = 100, 500, 2500 for the closest issue-9 row with dropout, and exactly
# (S=1, no latents) for the language model it is compared with. Run from the
# repository root after training both runs into runs/ (bin/reproduce).
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
LM=ptb_lm_dropout_long
RUN=ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long
OUT=results/iwae_samples
.venv/bin/python bin/evaluate --workdir=runs/$LM --split=test --num_samples=1 --max_examples=200 --output=$OUT/${LM}_S1.json > $OUT/log.txt 2>&1
for S in 100 500 2500; do
  .venv/bin/python bin/evaluate --workdir=runs/$RUN --split=test --num_samples=$S --max_examples=200 --output=$OUT/${RUN}_S$S.json >> $OUT/log.txt 2>&1
done
echo done
