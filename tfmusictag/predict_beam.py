"""``python -m tfmusictag.predict_beam``: the program is :mod:`tfmusictag.cli.predict_beam`."""

if __name__ == "__main__":
    from tfmusictag.cli.predict_beam import run

    run()
