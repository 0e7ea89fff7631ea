from workbench.cli.main import run

raise SystemExit(run())
