"""The programs: ``python -m tfmusictag.<name>`` runs :mod:`tfmusictag.cli.<name>`.

``train``, ``evaluate``, ``export``, ``predict``, ``tune``, ``demo``, ``transfer_demo`` (and
``python -m tfmusictag.pretrained``). Each is a thin layer over the library; a user's mistake or
data problem is one ``error:`` line and exit status 2 (:func:`tfmusictag.cli.common.user_errors`).
"""
