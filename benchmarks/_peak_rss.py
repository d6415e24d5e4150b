"""``python benchmarks/_peak_rss.py OUT CMD...``: run CMD, write its peak resident set (KB) to OUT, exit as it did.

Linux gives a process the peak memory of the process it was forked from (the copied address space
counts until ``exec``): a test or benchmark that has TensorFlow loaded would put its own ~0.8 GB
under every measurement. This launcher is small, so what it reports is the command's own peak.
Used by ``bench_memory.py`` and by the memory test (``tests/test_product.py``).
"""

import os
import subprocess
import sys

if __name__ == "__main__":
    proc = subprocess.Popen(sys.argv[2:])
    _, status, usage = os.wait4(proc.pid, 0)
    with open(sys.argv[1], "w") as f:
        f.write(str(usage.ru_maxrss))
    sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
