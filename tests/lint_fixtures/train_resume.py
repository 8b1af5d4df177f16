"""A small image-classifier training script in the style of pytorch/examples (fixture for the SDL rules).

Each line that should produce a finding ends with a comment naming the expected code(s).
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))

    def export(self, path):
        torch.save(self, path)  # SDL004

    def export_weights(self, path):
        torch.save(self.state_dict(), path)


def save_checkpoint(model, optimizer, epoch, path):
    # optimizer is a parameter here: nothing is known about it, so this is fine
    torch.save({"model": model.state_dict(), "epoch": epoch}, path)


def train(args, loader: DataLoader):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = Net().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    start_epoch = 0
    if args.resume and os.path.isfile(args.resume):
        checkpoint = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(checkpoint["model"])  # SDL006
        start_epoch = checkpoint["epoch"] + 1
    for epoch in range(start_epoch, args.epochs):
        model.train()
        for data, target in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(data.to(device)), target.to(device))
            loss.backward()
            optimizer.step()
        torch.save({"model": model.state_dict(), "epoch": epoch}, args.checkpoint)  # SDL005
    torch.save(model, "mnist_cnn.pt")  # SDL004
    torch.save(model.state_dict(), "mnist_cnn_weights.pt")


def train_properly(args, loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start = ckpt["epoch"] + 1
    else:
        start = 0
    for epoch in range(start, args.epochs):
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                   args.checkpoint)


def finetune(args):
    model = Net(num_classes=100)
    state = torch.load(args.pretrained)  # SDL002, SDL003
    state = {k: v for k, v in state.items() if not k.startswith("fc2.")}
    model.load_state_dict(state, strict=False)  # SDL001, SDL901
    result = model.load_state_dict(state, strict=False)  # SDL901
    assert set(result.missing_keys) == {"fc2.weight", "fc2.bias"}
    legacy = torch.load(args.legacy, map_location="cpu", weights_only=False)  # SDL003
    trusted = torch.load(args.trusted, map_location="cpu")  # noqa: SDL003
    return model, legacy, trusted


def swap_in_weights(model, state):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.load_state_dict(state, assign=True)  # SDL007
    return optimizer


def swap_then_build(model, state):
    model.load_state_dict(state, assign=True)
    return torch.optim.AdamW(model.parameters(), lr=1e-4)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--resume", default="")
    main_args = parser.parse_args()
    net = Net()
    torch.save(net.state_dict(), "init.pt")
    torch.save(net, "init_full.pt")  # SDL004
