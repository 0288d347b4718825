#!/bin/bash
# How much does the S=500 estimate move with the seed of the importance
# samples? The first 200 test sentences (224 examples) of the frozen
# 0.25-nat run, three seeds. Run from the repository root.
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
RUN=ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_frozen
OUT=results/iwae_seeds
for SEED in 0 1 2; do
  .venv/bin/python bin/evaluate --workdir=runs/$RUN --split=test --num_samples=500 --max_examples=200 --seed=$SEED --output=$OUT/${RUN}_S500_seed$SEED.json >> $OUT/log.txt 2>&1
done
echo done
