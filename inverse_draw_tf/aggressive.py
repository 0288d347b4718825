"""Aggressive inference-network training (He et al. 2019, "Lagging Inference
Networks and Posterior Collapse in Variational Autoencoders",
https://arxiv.org/abs/1901.05534): the option
`optimizer.aggressive_inference`.

He et al. trace posterior collapse to an inference network that lags behind
the true posterior of a decoder changing under it: early in training the
approximate posterior carries little about x, so the decoder learns to
ignore z, which removes the inference network's reason to improve. Their fix,
as their code runs it for text:

  1. Before each update of the generative model (the decoder and any learned
     priors), update the inference network (the encoder and the posteriors)
     alone, on fresh training batches, until its loss stops falling: at most
     `max_inner_steps` updates, stopping at the first window of `window`
     updates whose loss per element is above the previous window's.
  2. Then update the generative model alone, on the outer step's batch.
  3. After each validation, leave this aggressive mode for good once the
     mutual information I(x; Z) under q falls below the previous
     validation's; from then on every step updates both sides, as without
     the option.

The inner updates have their own optimizer (its own Adam moments, as He et
al. keep one optimizer per side) whose learning rate follows the main
optimizer's, schedule and plateau decays included. They draw their batches
from a second stream of the training split (seed + 1) and count them in
`inner_batches`, a checkpointed variable, so a resumed run skips exactly
the batches already used, as the main stream does with its step counter.
Inner updates do not advance the step: the KL weight and the schedules stay
those of the outer step they precede.
"""

import math

import tensorflow as tf

from inverse_draw_tf import optimization
from inverse_draw_tf import warm_start


def inference_variables(model):
  """The inference network's trainable variables: the encoder and the
  posteriors (`warm_start.inference_layers`), in `model.trainable_variables`
  order."""
  ids = {id(v) for layer in warm_start.inference_layers(model)
         for v in layer.trainable_variables}
  return [v for v in model.trainable_variables if id(v) in ids]


def generative_variables(model):
  """Every other trainable variable: the decoder and any learned priors."""
  ids = {id(v) for v in inference_variables(model)}
  return [v for v in model.trainable_variables if id(v) not in ids]


class AggressiveInference(tf.Module):
  """The state and the inner loop of aggressive training (module docstring).

  Its variables (`active`, `inner_batches`, `last_mutual_information`) and
  its `optimizer` are checkpointed with the run.

  Args:
    optimizer_config: the config's `optimizer` section (its
      `aggressive_max_inner_steps` and `aggressive_window`, and the recipe
      the inner optimizer copies).
    main_optimizer: the run's optimizer, whose learning rate the inner one
      follows.
    inference_vars: the variables the inner updates train.
    num_steps: the run's length (the schedule's horizon).
  """

  def __init__(self, optimizer_config, main_optimizer, inference_vars,
               num_steps):
    super().__init__(name="aggressive_inference")
    self.max_inner_steps = int(optimizer_config.aggressive_max_inner_steps)
    self.window = int(optimizer_config.aggressive_window)
    self.active = tf.Variable(True, trainable=False, name="active")
    self.inner_batches = tf.Variable(0, dtype=tf.int64, trainable=False,
                                     name="inner_batches")
    self.last_mutual_information = tf.Variable(
        -math.inf, dtype=tf.float64, trainable=False,
        name="last_mutual_information")
    self.optimizer = optimization.build_optimizer(optimizer_config, num_steps)
    # The main optimizer's rate at its own iteration count (or its plateau
    # value), whatever the inner optimizer's count.
    self.optimizer.learning_rate = lambda: main_optimizer.learning_rate
    self.optimizer.build(inference_vars)

  def run_inner_loop(self, inner_step):
    """Runs inner updates until their loss stops falling (step 1 above).

    Args:
      inner_step: a callable that runs one inference-network update on the
        next inner batch and returns `(summed loss, elements)` of it.

    Returns:
      The number of updates run.
    """
    previous = math.inf
    window_loss = window_elements = 0.0
    updates = 0
    while updates < self.max_inner_steps:
      loss, elements = inner_step()
      updates += 1
      window_loss += float(loss)
      window_elements += float(elements)
      if updates % self.window == 0:
        current = window_loss / max(window_elements, 1.0)
        if current > previous:
          break
        previous, window_loss, window_elements = current, 0.0, 0.0
    return updates

  def observe_mutual_information(self, mutual_information):
    """Records a validation's I(x; Z); leaves aggressive mode for good when
    it fell below the previous validation's (step 3). Returns `active`."""
    if bool(self.active.numpy()):
      if mutual_information < float(self.last_mutual_information.numpy()):
        self.active.assign(False)
      self.last_mutual_information.assign(mutual_information)
    return bool(self.active.numpy())
