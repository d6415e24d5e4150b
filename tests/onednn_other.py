"""Print the ``TF_ENABLE_ONEDNN_OPTS`` value that TensorFlow does *not* use by default on this CPU.

``make test`` runs the whole suite with TensorFlow's default, then the tests marked ``onednn``
(numerics- and distribution-sensitive) again with this value, so both kernel sets are tested on
every machine: TensorFlow turns oneDNN on by default on some CPUs (AVX-512 VNNI, AMX) only.
"""

import os
import subprocess
import sys

env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
env["TF_CPP_MIN_LOG_LEVEL"] = "3"
probe = ("from tensorflow.python.util import _pywrap_util_port as p; "
         "print(int(p.IsMklEnabled()))")
out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
print(1 - int(out.stdout.strip().splitlines()[-1]))
