"""``python tests/helpers/kill_train.py POINT [train flags...]``: ``python -m tfmusictag.train`` that
kills itself with a real SIGKILL at one exact point (what a pre-empted cluster job or the OOM killer
does), for the resume tests. Nothing here changes what training computes; it only stops it.

POINT:
  after_checkpoint:N   just after checkpoint N is complete
  checkpoint_write:N   inside checkpoint N's write: its data is on disk, the index not yet updated
  final_save           inside the final model.save (the .keras file half written)
  fitting              inside unsupervised fitting (PCA), before the first checkpoint
"""

import os
import signal
import sys


def die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    kind, _, n = point.partition(":")
    if kind == "after_checkpoint":
        import tensorflow as tf

        real = tf.train.CheckpointManager.save

        def save(self, checkpoint_number=None, **kw):
            path = real(self, checkpoint_number=checkpoint_number, **kw)
            if checkpoint_number == int(n):
                die()
            return path

        tf.train.CheckpointManager.save = save
    elif kind == "checkpoint_write":
        from tensorflow.python.checkpoint import checkpoint_management as cm

        real = cm.update_checkpoint_state_internal

        def update(save_dir, model_checkpoint_path, *args, **kw):
            if model_checkpoint_path.endswith(f"-{n}"):
                die()
            return real(save_dir, model_checkpoint_path, *args, **kw)

        cm.update_checkpoint_state_internal = update
    elif kind == "final_save":
        from keras.src.saving import saving_lib

        real = saving_lib._save_state
        calls = []

        def save_state(*args, **kw):
            calls.append(1)
            if len(calls) == 3:  # the zip holds the config and part of the weights
                die()
            return real(*args, **kw)

        saving_lib._save_state = save_state
    elif kind == "fitting":
        from tfmusictag.reduction import PCAWhitening

        PCAWhitening.adapt = lambda self, *a, **kw: die()
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from tfmusictag.cli.train import run

    run(["train", *sys.argv[2:]])
