"""vi_gen: EM, VAE, GAN, AAE and ALI from one objective, in JAX/Flax."""

import os as _os

# TensorFlow is imported (by TFDS and Flax's TensorBoard writer) only to read
# data and write summaries. Its start-up banners (the oneDNN notice, printed
# once per import path, and C++ INFO lines) are kept off the terminal, and
# oneDNN's reordered float arithmetic, which no TF op here needs, is off. Set
# either variable yourself to keep TensorFlow's own default.
_os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
_os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
