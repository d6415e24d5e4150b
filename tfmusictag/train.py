"""``python -m tfmusictag.train``: the program is :mod:`tfmusictag.cli.train`."""

if __name__ == "__main__":
    from tfmusictag.cli.train import run

    run()
