"""``python -m tfmusictag.tune``: the program is :mod:`tfmusictag.cli.tune`."""

if __name__ == "__main__":
    from tfmusictag.cli.tune import run

    run()
