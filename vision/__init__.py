"""Vision: image classification (MNIST, Fashion-MNIST, CIFAR-10, your own .npz) with fully connected nets, LeNet and
CIFAR ResNets, the sanity domain of DFA and its FA relatives and the ground of the paper's premise on convolutions."""
