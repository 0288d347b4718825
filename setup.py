"""Installs `inverse_draw_tf` and its pinned, mutually compatible dependencies."""

import setuptools

setuptools.setup(
    name="inverse_draw_tf",
    version="0.1.0",
    description=("Inverse DRAW: a variational autoencoder whose decoder "
                 "attends over a memory of stochastic latent vectors."),
    packages=setuptools.find_packages(include=["inverse_draw_tf",
                                               "inverse_draw_tf.*"]),
    python_requires=">=3.10,<3.13",
    install_requires=[
        # tensorflow-text 2.21.1 pins tensorflow 2.21.x; keep them in step.
        "tensorflow>=2.21,<2.22",
        "tensorflow-text>=2.21,<2.22",
        "tensorflow-probability>=0.25,<0.26",
        # TFP refuses to import without tf-keras, even on Keras 3.
        "tf-keras>=2.21,<2.22",
        "keras>=3.15,<4",
        "absl-py>=2.1",
        # tf.summary writes nothing without it (TF 2.21 no longer pulls it in).
        "tensorboard>=2.21,<2.22",
        "ml-collections>=1.0,<2",
        "numpy>=1.26",
        # bin/analyze and the training summaries draw attention maps with it.
        "matplotlib>=3.8",
    ],
    extras_require={
        # The serving-API protos build PredictRequests in the export tests;
        # pytest-xdist runs the suite on every core (Makefile, TEST_WORKERS).
        "test": ["pytest>=8", "pytest-xdist>=3.6",
                 "tensorflow-serving-api>=2.21,<2.22"],
    },
)
