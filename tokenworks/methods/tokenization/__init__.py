"""Tokenization science: data-mixture inference from BPE merge lists, and the Markov-source theory of tokenization."""
