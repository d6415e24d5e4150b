"""Freeze a musicnn 0.1.0 checkpoint into the TensorFlow graph Essentia's ``TensorflowPredictMusiCNN``
reads (runs in musicnn's own environment; for ``bench_musicnn.py --essentia_python``).

Usage: <musicnn venv>/bin/python benchmarks/_freeze_musicnn.py MODEL OUT.pb

The graph is musicnn's own (``musicnn.models.define_model``, as ``musicnn.extractor`` builds it):
input ``model/Placeholder`` (patches of 187 frames × 96 mel bands), ``model/Placeholder_1`` (is
training), output ``model/Sigmoid`` — the node names Essentia's musicnn algorithms expect.
"""

import os
import sys


def main(model, out):
    import musicnn
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    tf.compat.v1.disable_v2_behavior()  # reference variables: what convert_variables_to_constants folds
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y = models.define_model(x, is_training, model, 50)[0]
        tf.nn.sigmoid(y)
    sess = tf.compat.v1.Session()
    tf.compat.v1.train.Saver().restore(sess, os.path.join(os.path.dirname(musicnn.__file__), model, ""))
    frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, sess.graph_def, ["model/Sigmoid"])
    tf.io.write_graph(frozen, os.path.dirname(os.path.abspath(out)), os.path.basename(out), as_text=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
