from augkit.cli import cli

cli(prog_name="augkit")
