"""The only package that imports torch (and only when run): build a class for real on the meta device
(runtime.py), read a checkpoint with torch (torch_loader.py), and compare torch with the prediction (oracle.py)."""
