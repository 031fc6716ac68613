"""Graphs: graph convolutional networks on Planetoid citation graphs (the paper's Tables 3 and 4)."""
