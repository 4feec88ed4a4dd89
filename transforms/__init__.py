"""Framework adapters: MONAI and TorchIO transforms over a DLPack bridge."""
