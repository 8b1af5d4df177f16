"""Distributed / compiled training loops saving checkpoints (fixture for SDL008).

Written in the style of single-file GPT trainers and ImageNet reference scripts: the model is wrapped in
DistributedDataParallel, DataParallel or torch.compile, and the checkpoint is written from the wrapper
(keys prefixed with `module.` / `_orig_mod.`) or, correctly, from the unwrapped model.
"""
import os
import shutil

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP


def save_checkpoint(state, is_best, filename="checkpoint.pth.tar"):
    torch.save(state, filename)
    if is_best:
        shutil.copyfile(filename, "model_best.pth.tar")


def main_worker(model, args, optimizer, loader):
    if args.distributed:
        dist.init_process_group("nccl")
        model = DDP(model.cuda(args.gpu), device_ids=[args.gpu])
    elif args.gpu is not None:
        model = model.cuda(args.gpu)
    else:
        model = torch.nn.DataParallel(model).cuda()
    for epoch in range(args.epochs):
        train_one_epoch(model, loader, optimizer)
        save_checkpoint({  # the SDL008 finding sits on the state_dict() call below
            "epoch": epoch + 1,
            "state_dict": model.state_dict(),  # SDL008
            "optimizer": optimizer.state_dict(),
        }, is_best=False)


def main_worker_fixed(net, args, optimizer, loader):
    model = DDP(net.cuda(args.gpu), device_ids=[args.gpu])
    for epoch in range(args.epochs):
        train_one_epoch(model, loader, optimizer)
        save_checkpoint({"epoch": epoch + 1, "state_dict": net.state_dict(),
                         "optimizer": optimizer.state_dict()}, is_best=False)
        save_checkpoint({"epoch": epoch + 1, "state_dict": model.module.state_dict(),
                         "optimizer": optimizer.state_dict()}, is_best=False)


def reference_style(model, args, optimizer, lr_scheduler, loader):
    # keep a handle on the bare model before wrapping it, save through the handle
    model_without_ddp = model
    if args.distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[args.gpu])
        model_without_ddp = model.module
    for epoch in range(args.epochs):
        train_one_epoch(model, loader, optimizer)
        checkpoint = {
            "model": model_without_ddp.state_dict(),
            "optimizer": optimizer.state_dict(),
            "lr_scheduler": lr_scheduler.state_dict(),
            "epoch": epoch,
        }
        torch.save(checkpoint, os.path.join(args.output_dir, f"model_{epoch}.pth"))


def gpt_loop(model, cfg, optimizer, get_batch):
    if cfg.compile:
        uncompiled = model
        model = torch.compile(model)
    if cfg.ddp:
        model = DDP(model, device_ids=[cfg.local_rank])
    raw = model.module if cfg.ddp else model  # unwraps DDP, not torch.compile
    for it in range(cfg.max_iters):
        x, y = get_batch("train")
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        if it % cfg.eval_interval == 0:
            ckpt = {
                "model": raw.state_dict(),  # SDL008
                "optimizer": optimizer.state_dict(),
                "iter_num": it,
            }
            torch.save(ckpt, os.path.join(cfg.out_dir, "ckpt.pt"))
    torch.save(uncompiled.state_dict(), os.path.join(cfg.out_dir, "final.pt"))


def eval_only(model, path):
    model = torch.compile(model)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    sd = model.state_dict()  # inspected, never saved
    return len(sd)


def train_one_epoch(model, loader, optimizer):
    for x, y in loader:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
