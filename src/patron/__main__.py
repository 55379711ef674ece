import sys

from patron.cli.lean import try_clv


def main() -> None:
    # `patron clv` with plain arguments runs before Typer is even imported (patron.cli.lean).
    code = try_clv(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from patron.cli.main import run

    run()


main()
