"""The hand-derived ("fused") engine for the built-in conv ResNets: convolutions as matrix
products on channels-last buffers, the residual stack's passes, and the critic's and generator's
gradients written out by hand (no autograd, no double backward)."""
