from patron.cli.main import run

run()
