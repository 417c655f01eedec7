"""One module per local server, each knowing how to install, start, probe and stop it; servers.py
for all of them together; moto_server.py and spark_jobs.py run inside the AWS emulator's process."""
