"""Turn folders and manifests into image items, and bytes into checked pixels."""
