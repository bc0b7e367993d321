"""ControlInbox against a real broker: what the log held when a run started comes first."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from producers.control_inbox import ControlInbox
from tests.producers.test_train_process import command, send


def test_commands_sent_before_the_run_are_all_there_at_its_first_step(catalogue, store, kernels):
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    sent = [command(run_id, "germinate", 0, 0, kernels["hidden"]),
            command("someone-else", "germinate", 0, 1, kernels["hidden"]),
            command(run_id, "germinate", 1, 0, kernel_id=f"kernel-{uuid.uuid4().hex}",
                    blueprint_id=kernels["hidden"].blueprint_id),  # held: its kernel is not stored
            command(run_id, "cull", 1, 1)]
    send(catalogue, *sent)
    inbox = ControlInbox(run_id, store, start=before, bootstrap=catalogue)
    try:
        # No waiting here: the constructor read up to the log's end at the start.
        assert [c.meta.event_id for c in inbox.take()] == [sent[0].meta.event_id, sent[3].meta.event_id]
        assert [c.meta.event_id for c in inbox.held] == [sent[2].meta.event_id]
        assert inbox.take() == []
    finally:
        inbox.close()


def test_a_run_started_now_reads_nothing_sent_before_it(catalogue, store, kernels):
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    send(catalogue, command(run_id, "germinate", 0, 0, kernels["hidden"]))
    inbox = ControlInbox(run_id, store, start=datetime.now(timezone.utc) + timedelta(seconds=1),
                         bootstrap=catalogue)
    try:
        assert inbox.take() == []
    finally:
        inbox.close()
