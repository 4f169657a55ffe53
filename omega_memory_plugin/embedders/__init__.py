"""Embedders beyond the built-in hash embedder (:mod:`omega_memory_plugin.embeddings`), each an
optional extra, each registered through the same ``omega_memory_embedder`` hook a third-party
plugin implements."""
