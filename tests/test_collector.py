"""components.collector: the objects alive before a long step are frozen, and blocks nest."""

import gc

import pytest

from components import collector


def test_objects_alive_on_entry_are_frozen_until_the_outermost_block_exits():
  before = gc.get_freeze_count()  # Python 3.12 starts with a few hundred frozen objects
  # Counts are compared with `before` only: a frozen object freed by reference counting leaves
  # the frozen generation, so the count inside a block can drop a little.
  with collector.existing_objects_frozen():  # as the CLI's pipeline run
    assert gc.get_freeze_count() > before
    with collector.existing_objects_frozen():  # as the Evaluator's run inside it
      assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() > before  # the inner block left the outer one's objects frozen
  assert gc.get_freeze_count() <= before


def test_a_failing_block_unfreezes_and_the_next_one_freezes_again():
  before = gc.get_freeze_count()
  with pytest.raises(KeyError):
    with collector.existing_objects_frozen():
      assert gc.get_freeze_count() > before
      raise KeyError('a failing step')
  assert gc.get_freeze_count() <= before
  with collector.existing_objects_frozen():
    assert gc.get_freeze_count() > before
