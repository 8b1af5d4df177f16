"""An AMP training loop with a cosine schedule in the style of DeiT/MAE's util/misc.py (fixture for SDL010).

Each line that should produce a finding ends with a comment naming the expected code(s).
"""
import torch


def save_model(path, epoch, model, optimizer, lr_scheduler, loss_scaler):
    to_save = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": lr_scheduler.state_dict(),
        "scaler": loss_scaler.state_dict(),
        "epoch": epoch,
    }
    torch.save(to_save, path)


def load_model(path, model, optimizer, lr_scheduler, loss_scaler):
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])  # SDL010
    optimizer.load_state_dict(checkpoint["optimizer"])
    lr_scheduler.load_state_dict(checkpoint["lr_scheduler"])
    start_epoch = checkpoint["epoch"] + 1
    print("resumed at", start_epoch, "with loss scale", loss_scaler.get_scale())
    return start_epoch


def load_weights(path, model, optimizer):
    # fine-tuning from the weights: neither optimizer nor scaler state is wanted
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])


def load_all(path, model, optimizer, lr_scheduler, loss_scaler):
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    lr_scheduler.load_state_dict(checkpoint["lr_scheduler"])
    if "scaler" in checkpoint:
        loss_scaler.load_state_dict(checkpoint["scaler"])
    return checkpoint["epoch"] + 1


LAST = "output/last.pth"


def save_last(model, optimizer, epoch):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, LAST)


def evaluate_last(model):
    model.load_state_dict(torch.load(LAST, map_location="cpu", weights_only=True))  # SDL011
    model.eval()
