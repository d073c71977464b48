"""Process-tree memory and CPU: grandchildren found, reaped and live workers' CPU both counted."""

import os
import subprocess
import sys
import textwrap

from bench.proctree import ProcessTree, own_tree_cpu_seconds

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def _python(code, **kw):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True, **kw)


def test_tree_rss_includes_a_grandchild():
    grandchild = "block = b'x' * (100 * 2**20); print('ready', flush=True); import time; time.sleep(60)"
    child = _python(f"""
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-c", {grandchild!r}], stdout=subprocess.PIPE, text=True)
        print(p.pid, p.stdout.readline().strip(), flush=True)
        time.sleep(60)
    """)
    try:
        pid, state = child.stdout.readline().split()
        assert state == "ready"
        tree = ProcessTree(child.pid)
        assert tree.pids()[0] == child.pid and int(pid) in tree.pids()
        assert tree.rss() >= 100 * 2**20
        assert tree.pss() >= 100 * 2**20
        assert tree.peak_rss_of_one() >= 100 * 2**20
    finally:
        for p in ProcessTree(child.pid).pids()[::-1]:
            os.kill(p, 9)
        child.wait()


def test_cpu_of_reaped_and_live_children_is_counted():
    tree = ProcessTree(os.getpid())
    before = own_tree_cpu_seconds(tree)
    subprocess.run([sys.executable, "-c", BURN], check=True)  # reaped: counted via RUSAGE_CHILDREN
    reaped = own_tree_cpu_seconds(tree)
    assert reaped - before >= 0.25
    live = _python(BURN + "print('burnt', flush=True)\ntime.sleep(60)\n")
    try:
        assert live.stdout.readline().strip() == "burnt"
        assert own_tree_cpu_seconds(tree) - reaped >= 0.25  # still running: read from /proc
    finally:
        live.kill()
        live.wait()
