#!/bin/bash
# How much does the S=1000 estimate move with the seed of the importance
# samples? The first 512 MNIST test images of the IWAE fine-tuned row,
# three seeds. Run from the repository root.
RUN=mnist_exact_window_row_autoregression_iwae5_fine_tune
OUT=results/iwae_seeds
for SEED in 0 1 2; do
  .venv/bin/python bin/evaluate --workdir=runs/$RUN --split=test --num_samples=1000 --max_examples=512 --seed=$SEED --resume=false --output=$OUT/${RUN}_S1000_seed$SEED.json >> $OUT/log_mnist.txt 2>&1
done
echo done
