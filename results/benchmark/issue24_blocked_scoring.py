"""IWAE S=500 throughput of one tree's code: released recipe at Li sizes and the Li K=1 VAE."""
import sys, json
tree = sys.argv[1]
sys.path.insert(0, tree)
import os; os.chdir(tree)
from inverse_draw_tf import benchmark, comparison, data
from configs import ptb_vae
rows = {}
cfgs = dict(released_li_sizes=comparison.configs()["released_li_sizes"],
            li_vae_k1=ptb_vae.get_config("budget=literature,word_dropout=0,decoder_dropout=0.5"))
for name in sys.argv[2].split(","):
  config = cfgs[name]
  inputs = data.Input(config.input, "/tmp/prof/vocab_" + name)
  batches = benchmark.evaluation_batches(inputs, 32, 3)
  row = benchmark.time_evaluation(config, inputs, batches, num_samples=500,
                                  chunk_size=config.evals.chunk_size, repeats=2)
  print(json.dumps(dict(tree=tree, row=name, token_samples_per_s=round(row["sample_elements_per_s"]),
                        ms_per_batch=round(row["ms_per_batch"]), peak_mib=round(row["peak_rss_mib"]))), flush=True)
