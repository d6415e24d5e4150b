"""``python -m tfmusictag.experiments``: the program is :mod:`tfmusictag.cli.experiments`."""

if __name__ == "__main__":
    from tfmusictag.cli.experiments import run

    run()
