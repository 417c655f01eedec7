"""`make chaos`: kill the local cloud's servers under traffic and count what an acknowledgement meant."""
