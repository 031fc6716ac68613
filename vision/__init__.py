"""Vision: fully connected networks on MNIST, the sanity domain of DFA and its FA relatives."""
