"""``python -m tfmusictag.library``: the program is :mod:`tfmusictag.cli.library`."""

if __name__ == "__main__":
    from tfmusictag.cli.library import run

    run()
