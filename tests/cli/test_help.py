"""Help in rich markup mode: train's options in panels, every line within 80 columns, and the
square brackets of help texts shown (escaped, not taken for markup)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from textgan.cli.app import PANELS, app

runner = CliRunner()
COMMANDS = [["train"], ["sample"], ["eval"], ["plot"], ["compare"], ["runs"],
            ["corpus", "billion-words"], []]  # fmt: skip


def help_text(*command: str, columns: int = 80) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def flat(text: str) -> str:
    """The help without its boxes' borders and line breaks: what the words say."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "textgan")
def test_help_fits_80_columns(command: list[str]) -> None:
    text = help_text(*command)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert max(len(line) for line in help_text(*command, columns=120).splitlines()) > 80


def test_every_train_option_is_in_a_panel() -> None:
    train = get_command(app).commands["train"]
    options = [p for p in train.params if isinstance(p, typer.core.TyperOption)]
    assert {p.rich_help_panel for p in options} == set(PANELS)
    assert all(p.rich_help_panel in PANELS for p in options), [p.name for p in options]
    assert sum(len(names) for names in PANELS.values()) == len(options)
    text = help_text("train")
    for title in PANELS:
        assert f"╭─ {title} ─" in text
    # the panels in PANELS's order, the new options in theirs
    assert [text.index(f"╭─ {title} ─") for title in PANELS] == sorted(
        text.index(f"╭─ {title} ─") for title in PANELS
    )
    run = text[text.index("╭─ Run ─") : text.index("╭─ Model ─")]
    assert "--config" in run and "--tensorboard" in run


def test_square_brackets_show() -> None:
    train = flat(help_text("train"))
    assert "[default: runs/<corpus>-<time>]" in train
    assert "[default: CORPUS's _heldout sibling]" in train
    assert '"textgan[tensorboard]"' in train
    assert '"textgan[plot]"' in flat(help_text("plot"))
    assert "[default: the newest under runs/]" in flat(help_text("sample"))
    assert "[default: statmt.org]" in flat(help_text("corpus", "billion-words"))
