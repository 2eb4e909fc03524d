"""Signing processes end when the server that started them dies, even when it is killed outright."""

import os
import signal
import subprocess
import sys

import psutil

from tests.harness import ROOT, wait_for

SERVER = """
import time
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from federation.signing_pool import SigningPool
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
pool = SigningPool(2)  # kept: a collected pool would stop its workers itself
pool.start(pem)
print("started", flush=True)
time.sleep(600)
"""


def test_signing_processes_exit_when_the_server_is_killed():
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "started"
        workers = wait_for(lambda: psutil.Process(server.pid).children(), timeout=30, what="the workers")
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        wait_for(
            lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers),
            timeout=15,
            what="signing processes to exit",
        )
    finally:
        if server.poll() is None:
            server.kill()
