"""``python -m tfmusictag.export``: the program is :mod:`tfmusictag.cli.export`."""

if __name__ == "__main__":
    from tfmusictag.cli.export import run

    run()
