"""The runs behind RESULTS.md, in the order bin/reproduce trains them.

Each entry: the run's name (its workdir under --runs_dir and its
`results/<name>.json`), its config file, and the importance samples of its
test evaluation (1 for models without latents: their likelihood is exact).
"""

# Importance samples: S=100 for the latent rows. The issue asks for S=500,
# which takes about 15 minutes per PTB run here (82k test tokens); sixteen of
# them do not fit beside the training. `bin/evaluate --num_samples=500` on
# the best run (results/<name>_s500.json) measures the gap.
RUNS = (
    ("ptb_lm", "configs/ptb_lm.py", 1),
    # First of the Inverse DRAW runs: the option that made the attention
    # choose in probes (issue 9, results/probes/); the soft rows of issue 8
    # follow.
    ("ptb_exact_window", "configs/ptb_exact_window.py", 100),
    ("ptb_vae", "configs/ptb_vae.py", 100),
    ("ptb_content", "configs/ptb_content.py", 100),
    ("ptb_location", "configs/ptb_location.py", 100),
    ("ptb_window_gaussian", "configs/ptb_window_gaussian.py", 100),
    ("ptb_window_cauchy", "configs/ptb_window_cauchy.py", 100),
    ("ptb_dot_product", "configs/ptb_dot_product.py", 100),
    ("ptb_hierarchical", "configs/ptb_hierarchical.py", 100),
    # Issue 9: the soft output-only baseline, then each option with
    # everything else fixed.
    ("ptb_content_output_only", "configs/ptb_content_output_only.py", 100),
    ("ptb_exact_alignment", "configs/ptb_exact_alignment.py", 100),
    ("ptb_variational_alignment", "configs/ptb_variational_alignment.py", 100),
    ("ptb_gumbel", "configs/ptb_gumbel.py", 100),
    ("ptb_sparsemax", "configs/ptb_sparsemax.py", 100),
    ("ptb_entmax", "configs/ptb_entmax.py", 100),
    ("mnist_rows", "configs/mnist_rows.py", 1),
    ("mnist", "configs/mnist.py", 100),
)
