"""``python tests/helpers/kill_export.py [export flags...]``: ``python -m tfmusictag.export`` killed
by a real SIGKILL right after the SavedModel is written, before it is moved into place."""

import os
import signal
import sys

if __name__ == "__main__":
    import tensorflow as tf

    real = tf.saved_model.save

    def save(*args, **kw):
        real(*args, **kw)
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    tf.saved_model.save = save
    from tfmusictag.cli.export import run

    run(["export", *sys.argv[1:]])
