"""NLP: a causal Transformer language model on WikiText, trained with BP, DFA (macro or micro) or shallow."""
