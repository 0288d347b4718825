"""One recurrent step's attention, forward and backward, by implementation.

A 24-step `tf.scan` at batch 32 whose step normalises K logits (oneDNN's
`tf.nn.softmax` or exp / sum) and reads a (K, D) memory (`tf.einsum`, a
broadcast product and sum, or a batched matmul); microseconds a step.
K=8, D=16 is the decoder's read of the latent memory; K=24, D=512 the slot
writer's read of a 24-word sentence's BiLSTM encoding.
"""
import time, tensorflow as tf
ein = lambda w, m: tf.einsum("bk,bkd->bd", w, m)
mulsum = lambda w, m: tf.reduce_sum(w[:, :, None] * m, 1)
bmm = lambda w, m: tf.matmul(w[:, None, :], m)[:, 0]
def nn_softmax(x): return tf.nn.softmax(x)
def manual(x):
  e = tf.exp(x - tf.stop_gradient(tf.reduce_max(x, -1, keepdims=True)))
  return e / tf.reduce_sum(e, -1, keepdims=True)
def bench(read, softmax, K, D, n=24, reps=30):
  m = tf.Variable(tf.random.normal([32, K, D]))
  q = tf.Variable(tf.random.normal([D, K]) * 0.1)
  @tf.function
  def f():
    with tf.GradientTape() as tape:
      def step(h, _):
        w = softmax(tf.matmul(h, q))
        return tf.tanh(read(w, m))
      hs = tf.scan(step, tf.range(n), initializer=tf.zeros([32, D]))
      loss = tf.reduce_sum(hs)
    return tape.gradient(loss, [m, q])
  f()
  t = time.perf_counter()
  for _ in range(reps): g = f()
  g[0].numpy()
  return (time.perf_counter() - t) / reps / n * 1e6
for rep in range(2):
  for K, D in ((8, 16), (24, 512)):
    for sname, sm in (("nn", nn_softmax), ("manual", manual)):
      for rname, rd in (("einsum", ein), ("mulsum", mulsum), ("matmul", bmm)):
        print(f"K={K:2d} D={D:3d} softmax={sname:6s} read={rname:6s} {bench(rd, sm, K, D):7.1f} us/step fwd+bwd", flush=True)
