"""Configurations that several benchmarks time alike."""

# The 2D GANs timed: the default (PacGAN's networks, compute-bound on a CPU)
# and small networks, where launching a jitted call costs more than the stage.
# Overrides of the recipe configs/gan_ring8.py.
TOY2D_CASES = (
    ('default networks', {}),
    ('small networks (G 2×32, D 2×16×2)',
     dict(g_hidden=32, g_depth=2, d_hidden=16, d_depth=2, d_pieces=2)),
)
