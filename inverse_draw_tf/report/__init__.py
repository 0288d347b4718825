"""The HTML report of bin/analyze: what a trained run's latents do.

Sections: the run's metrics and config; word-to-slot maps (which slot
produced each word, which words each slot read); a profile of every slot
over the split (its words, share of tokens, KL, active dimensions); rate
(tokens per slot, the window's step size, one level up in a hierarchy);
attention sharpness against the uniform baseline; reconstructions, samples
from the prior, interpolations between posteriors and traversals of one slot,
as sentences coloured by the slot that produced each word (or as images).

```none
collect.py    runs the model over a split: statistics and decodings
figures.py    draws them (matplotlib's Agg canvas)
sections.py   the HTML of each section, with its figures
page.py       write_report: restores the run, writes index.html, summary.json
```
Each module imports only those above it. The statistics themselves come from
`analysis.py` and `metrics.py`; `summaries.py` reuses `collect` and `figures`
for the attention maps training writes to TensorBoard.

Start at `page.write_report(workdir, out)`. This file defines only
`ReportError` and imports nothing, so that every module can raise it without
an import cycle.
"""


class ReportError(ValueError):
  """Bad arguments or an unusable run or output directory (one line)."""
