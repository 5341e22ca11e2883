"""Command modules of the `secobs` command line; each adds its commands to `base.main`."""
