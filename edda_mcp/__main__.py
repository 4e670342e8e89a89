"""``python -m edda_mcp``: the ``edda-mcp`` command line."""

from edda_mcp.cli import run

if __name__ == "__main__":
    run()
