"""``python -m tfmusictag.demo``: the program is :mod:`tfmusictag.cli.demo`."""

if __name__ == "__main__":
    from tfmusictag.cli.demo import run

    run()
