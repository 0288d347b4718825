"""Tests of inverse_draw_tf/summaries.py: the TensorBoard summaries written
during training (scalars, attention maps, reconstructions)."""

import glob
import os

import tensorflow as tf

from configs import ptb_small
from inverse_draw_tf import config_lib
from inverse_draw_tf import summaries
from inverse_draw_tf import train_lib
import test_case


def read_tags(directory):
  """`{tag: {(step, plugin name)}}` of every event file in `directory`."""
  tags = {}
  for path in glob.glob(os.path.join(directory, "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        tags.setdefault(value.tag, set()).add(
            (event.step, value.metadata.plugin_data.plugin_name))
  return tags


class _FakeModel:
  num_levels = 1


class WriteSummariesTest(test_case.TestCase):

  def test_numbers_and_lists_become_scalars_and_none_is_skipped(self):
    directory = self.create_tempdir().full_path
    writer = tf.summary.create_file_writer(directory)
    summaries.write_summaries(writer, 3, dict(
        loss=2.5, kl_per_slot=[1.0, 0.5], ppl=None,
        level_assignment_argmax_share=[[0.75, 0.25]]), "valid")
    writer.flush()
    self.assertEqual(read_tags(directory), {
        "valid/loss": {(3, "scalars")},
        "valid/kl_per_slot/0": {(3, "scalars")},
        "valid/kl_per_slot/1": {(3, "scalars")},
        "valid/level_assignment_argmax_share/0/0": {(3, "scalars")},
        "valid/level_assignment_argmax_share/0/1": {(3, "scalars")}})


  def test_values_beyond_float32_are_written(self):
    # An autoencoder's validation perplexity, exp(ELBO / tokens) with a KL
    # of ~1,800 nats, was 1e39: float32's range ends at 3.4e38, and the
    # conversion of the Python float raised. TensorBoard keeps float32
    # scalars, so such a value is stored as inf; a value in range is exact.
    directory = self.create_tempdir().full_path
    writer = tf.summary.create_file_writer(directory)
    summaries.write_summaries(writer, 1, dict(elbo_ppl=1e39,
                                              kl_per_slot=[1e300, 0.25]),
                              "valid")
    writer.flush()
    values = {}
    for path in glob.glob(os.path.join(directory, "events.*")):
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          values[value.tag] = float(tf.make_ndarray(value.tensor))
    self.assertEqual(values, {"valid/elbo_ppl": float("inf"),
                              "valid/kl_per_slot/0": float("inf"),
                              "valid/kl_per_slot/1": 0.25})

class MarkdownTest(test_case.TestCase):

  def test_markdown_escape(self):
    self.assertEqual(summaries.markdown_escape("<unk>"), "&lt;unk&gt;")
    self.assertEqual(summaries.markdown_escape(r"mgm\/ua"), r"mgm\\/ua")
    self.assertEqual(summaries.markdown_escape("a|b*c_d"), r"a\|b\*c\_d")


class TrainingSummariesTest(test_case.TestCase):

  def test_summary_examples_must_be_non_negative(self):
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"`config\.train\.summary_examples` must be "
                                r"an integer >= 0 \(0 disables\), received -1"):
      summaries.TrainingSummaries(_FakeModel(), None, -1)

  def test_training_writes_attention_maps_and_reconstructions(self):
    workdir = self.create_tempdir().full_path
    config = ptb_small.get_config("runlocal")
    config.train.update(num_steps=4, eval_every=4)
    train_lib.train(config, workdir)
    tags = read_tags(os.path.join(workdir, "tensorboard"))
    self.assertEqual(tags.get("attention/example_0"), {(4, "images")})
    self.assertEqual(tags.get("attention/example_1"), {(4, "images")})
    self.assertNotIn("attention/example_2", tags)  # runlocal shows two.
    self.assertEqual(tags.get("reconstructions"), {(4, "text")})
    self.assertIn((4, "scalars"), tags.get("valid/elbo"))


if __name__ == "__main__":
  tf.test.main()
