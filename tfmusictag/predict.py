"""``python -m tfmusictag.predict``: the program is :mod:`tfmusictag.cli.predict`."""

if __name__ == "__main__":
    from tfmusictag.cli.predict import run

    run()
