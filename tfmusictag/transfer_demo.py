"""``python -m tfmusictag.transfer_demo``: the program is :mod:`tfmusictag.cli.transfer_demo`."""

if __name__ == "__main__":
    from tfmusictag.cli.transfer_demo import run

    run()
