"""The rich renderings the CLI prints: the live evaluation table."""

import io

from rich.console import Console

from textgan.cli.display import eval_table


def rendered(table) -> list[str]:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text().splitlines()


def test_the_evaluation_table_shows_the_critic_estimates_and_their_gap() -> None:
    record = {"iteration": 300, "js1": 0.1, "js4": 0.7, "critic_train": 1.5,
              "critic_heldout": 1.25, "critic_gap": 0.25}  # fmt: skip
    lines = rendered(eval_table([record], {"floor_js1": 0.001, "floor_js4": 0.25}, 640))
    header = " ".join(lines[:5])
    assert "critic" in header and "held-out" in header and "gap" in header
    row = next(line for line in lines if line.strip().startswith("300")).split()
    assert row[-3:] == ["1.5000", "1.2500", "0.2500"]
    floor = next(line for line in lines if line.strip().startswith("floor")).split()
    assert floor == ["floor", "0.0010", "0.2500"]  # nothing under the critic's columns


def test_the_evaluation_table_shows_quality_and_coverage_beside_their_floor() -> None:
    record = {"iteration": 300, "js4": 0.7, "quality": 3.25, "coverage": 4.5, "distinct": 1.0}
    floor = {"floor_js4": 0.25, "floor_quality": 2.25, "floor_coverage": 2.875}
    lines = rendered(eval_table([record], floor, 640))
    header = lines[3].split()
    assert header[header.index("js4") + 1 : header.index("js4") + 3] == ["quality", "coverage"]
    row = next(line for line in lines if line.strip().startswith("300")).split()
    assert row == ["300", "0.7000", "3.2500", "4.5000", "1.0000"]
    floor_row = next(line for line in lines if line.strip().startswith("floor")).split()
    assert floor_row == ["floor", "0.2500", "2.2500", "2.8750"]
