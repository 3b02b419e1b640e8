"""Text in, ids out: the character vocabulary, corpus reading and its cache, the batch sampler,
and the One Billion Word import."""
