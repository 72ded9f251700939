"""The ``ferbias`` error boundary: every failure ends as short lines naming the file or field.

The root command group runs every sub-command inside ``ErrorBoundary.invoke``. An exception that
escapes a command is printed as ``error: <message>`` on stderr (no traceback) and sets the exit
code: 2 for bad input (a missing or malformed file, an invalid spec field or option value, an
unknown name), 1 for other failures (a download that fails, a disk error, a bug). typer's own
usage errors keep their exit code 2. ``ferbias --debug ...`` re-raises instead, so the full
traceback is shown. Commands therefore raise plain exceptions and never catch them to print.
"""

from __future__ import annotations

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ferbias.registry import UnknownNameError

BAD_INPUT_EXIT = 2  # as typer's usage errors
FAILURE_EXIT = 1
DEBUG_KEY = "ferbias.debug"  # ctx.meta key set by the root callback's --debug
# Exceptions that mean "the input is wrong": library code raises these with messages that name
# the file or field and what was expected.
BAD_INPUT = (
    ValueError,
    UnknownNameError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    yaml.YAMLError,
)
UNEXPECTED = "{kind}: {message} (run with --debug for the traceback)"

stderr = Console(stderr=True)


def exit_code(error: BaseException) -> int:
    """2 for bad input, 1 for any other failure."""
    return BAD_INPUT_EXIT if isinstance(error, BAD_INPUT) else FAILURE_EXIT


def error_lines(error: BaseException) -> list[str]:
    """The message of ``error`` as lines (a spec with several bad fields gives one line each)."""
    text = str(error).strip()
    if not isinstance(error, (*BAD_INPUT, OSError, RuntimeError)) or not text:
        text = UNEXPECTED.format(kind=type(error).__name__, message=text or "(no message)")
    return [line for line in text.splitlines() if line.strip()]


def report_error(error: BaseException) -> int:
    """Print ``error`` as ``error: ...`` lines on stderr; return its exit code."""
    for line in error_lines(error):
        stderr.print(f"[bold red]error:[/bold red] {escape(line)}", soft_wrap=True, highlight=False)
    return exit_code(error)


class ErrorBoundary(TyperGroup):
    """The root group: turns an exception escaping any command into ``report_error``'s lines."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # typer's own usage errors, explicit exits and Ctrl-C keep their handling
        except Exception as error:
            if ctx.meta.get(DEBUG_KEY):
                raise
            raise typer.Exit(report_error(error)) from None
