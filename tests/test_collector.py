"""components.collector: the objects alive before a long step are frozen, and blocks nest."""

import gc

import pytest

from components import collector


def test_objects_alive_on_entry_are_frozen_until_the_outermost_block_exits():
  before = gc.get_freeze_count()  # Python 3.12 starts with a few hundred frozen objects
  with collector.existing_objects_frozen():  # as the CLI's pipeline run
    frozen = gc.get_freeze_count()
    assert frozen > before
    with collector.existing_objects_frozen():  # as the Evaluator's run inside it
      assert gc.get_freeze_count() >= frozen
    assert gc.get_freeze_count() >= frozen  # the inner block leaves the outer one's objects
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
