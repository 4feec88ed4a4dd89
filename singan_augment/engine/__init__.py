"""The method, in pure JAX: no files, no torch, nothing imported from above this package
(only ``singan_augment.errors``).

Modules, bottom up: ``config`` (published defaults), ``channels`` (N-channel normalisation and
label decoding), ``scales`` (pyramid sizes, antialiased resize, padding), ``conv`` (3x3 valid
convolution formulations), ``draws`` (random draws compiled per size bucket, bit-identical to
``jax.random``'s), ``networks`` (G/D per scale), ``windows`` (random training windows of a
scale), ``losses`` (WGAN-GP + reconstruction), ``generate`` (noise and the coarse-to-fine
pass), ``pyramid`` (the ``Pyramid`` container),
``train`` (one scale's training iterations), ``fit`` (a whole pyramid), ``sample`` and
``harmonize`` (injection, harmonization, editing), ``schedules`` (the named training
schedules: published and fast). The package root re-exports the public API.
"""
