"""One module per local server; each knows how to install, start, probe and stop it."""
