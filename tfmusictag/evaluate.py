"""``python -m tfmusictag.evaluate``: the program is :mod:`tfmusictag.cli.evaluate`."""

if __name__ == "__main__":
    from tfmusictag.cli.evaluate import run

    run()
