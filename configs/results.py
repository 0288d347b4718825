"""The runs behind RESULTS.md, in the order bin/reproduce trains them.

Each entry: the run's name (its workdir under --runs_dir and its
`results/<name>.json`), its config file, and the importance samples of its
test evaluation (1 for models without latents: their likelihood is exact).
"""

RUNS = (
    ("ptb_lm", "configs/ptb_lm.py", 1),
    # First of the Inverse DRAW runs: the option that made the attention
    # choose in probes (issue 9, results/probes/); the soft rows of issue 8
    # follow.
    ("ptb_exact_window", "configs/ptb_exact_window.py", 500),
    ("ptb_window_gaussian", "configs/ptb_window_gaussian.py", 500),
    ("ptb_vae", "configs/ptb_vae.py", 500),
    ("ptb_content", "configs/ptb_content.py", 500),
    ("ptb_window_cauchy", "configs/ptb_window_cauchy.py", 500),
    ("ptb_location", "configs/ptb_location.py", 500),
    ("ptb_dot_product", "configs/ptb_dot_product.py", 500),
    ("ptb_hierarchical", "configs/ptb_hierarchical.py", 500),
    ("ptb_exact_alignment", "configs/ptb_exact_alignment.py", 500),
    ("ptb_variational_alignment", "configs/ptb_variational_alignment.py", 500),
    ("ptb_gumbel", "configs/ptb_gumbel.py", 500),
    ("ptb_sparsemax", "configs/ptb_sparsemax.py", 500),
    ("ptb_entmax", "configs/ptb_entmax.py", 500),
    ("mnist_rows", "configs/mnist_rows.py", 1),
    ("mnist", "configs/mnist.py", 1000),
)
