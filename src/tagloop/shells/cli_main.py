"""``python -m tagloop.shells.cli_main``: the CLI without the console script."""

from tagloop.shells.cli import main

if __name__ == "__main__":
    main()
