"""Alerts are not lost to a failing webhook (issue 16): a durable outbox retries with backoff
across restarts until the receiver accepts or the alert expires, each alert is delivered once,
and `watch` says what is still pending when it stops. A real receiver on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from local_webhook import HANG_UP, WebhookReceiver
from test_alerts import flap, write_config
from test_watch import T, flapping_history
from transitwatch.cli.main import main
from transitwatch.live.alerts import AlertDispatcher, ChannelConfig, load_config
from transitwatch.live.outbox import Outbox


def hook_channel(hook: WebhookReceiver, **options: object) -> ChannelConfig:
    settings: dict[str, object] = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2.0, **options}
    return ChannelConfig("webhook", "ops", url=hook.url("/alerts"), **settings)  # type: ignore[arg-type]


def test_undelivered_alerts_survive_a_restart_and_are_delivered_once(tmp_path: Path) -> None:
    outbox = tmp_path / "alerts.outbox.sqlite"
    first_event, second_event = flap([T + 1200, T + 4800])
    problems: list[str] = []
    # run 1: the receiver fails every request (500s and hang-ups) while we run
    with WebhookReceiver(failures=[500, HANG_UP] * 1000) as hook:
        alerts = AlertDispatcher([hook_channel(hook)], outbox=outbox, on_problem=problems.append)
        alerts.send(first_event)
        alerts.send(second_event)
        alerts.close(timeout=0.5)
        tried = len(hook.received)
    assert tried >= 2 and not hook.accepted()
    (stats,) = alerts.stats()
    assert stats.pending == 2 and stats.sent == 0 and stats.failed == 0
    assert any("2 alert(s) not delivered yet, kept in" in p and "retried on the next run" in p
               for p in problems)
    assert [p.summary for p in Outbox(outbox).pending()] == [first_event.summary(), second_event.summary()]

    # run 2 (a restart): the receiver works; what was pending goes out without being sent again
    with WebhookReceiver() as hook:
        alerts = AlertDispatcher([hook_channel(hook)], outbox=outbox)
        alerts.send(first_event)  # the watcher found the same event again after the restart
        alerts.close(timeout=10)
    assert [r.json()["event"]["onset"] for r in hook.accepted()] == [
        first_event.to_dict()["onset"], second_event.to_dict()["onset"]]
    (stats,) = alerts.stats()
    assert (stats.sent, stats.pending, stats.already_sent) == (2, 0, 1)
    keys = [r.headers["Idempotency-Key"] for r in hook.accepted()]
    assert len(set(keys)) == 2

    # run 3: delivered alerts are remembered: never sent twice
    with WebhookReceiver() as hook:
        alerts = AlertDispatcher([hook_channel(hook)], outbox=outbox)
        alerts.send(first_event)
        alerts.send(second_event)
        alerts.close(timeout=5)
    assert hook.received == [] and alerts.stats()[0].already_sent == 2
    assert Outbox(outbox).counts() == {"delivered": 2}


def test_retries_back_off_and_carry_the_same_idempotency_key(tmp_path: Path) -> None:
    (event,) = flap([T])
    with WebhookReceiver(failures=[503, 503, HANG_UP, 500]) as hook:
        alerts = AlertDispatcher([hook_channel(hook, backoff=0.05, max_backoff=1.0)],
                                 outbox=tmp_path / "o.sqlite")
        started = time.monotonic()
        alerts.send(event)
        alerts.close(timeout=20)
        elapsed = time.monotonic() - started
    assert [r.status for r in hook.received] == [503, 503, HANG_UP, 500, 200]
    assert len({r.headers["Idempotency-Key"] for r in hook.received}) == 1
    assert len({r.body for r in hook.received}) == 1
    assert elapsed >= 0.05 * (1 + 2 + 4 + 8) * 0.5  # exponential backoff (with jitter 0.5..1)


def test_an_alert_expires_and_a_4xx_is_not_retried(tmp_path: Path) -> None:
    first, second = flap([T, T + 600])
    problems: list[str] = []
    with WebhookReceiver(failures=[400] + [503] * 1000) as hook:
        alerts = AlertDispatcher([hook_channel(hook, expire=0.4)], outbox=tmp_path / "o.sqlite",
                                 on_problem=problems.append)
        alerts.send(first)   # 400: refused, kept as refused, never retried
        time.sleep(0.1)
        alerts.send(second)  # 503 until it expires
        alerts.close(timeout=2)
    box = Outbox(tmp_path / "o.sqlite")
    assert box.counts() == {"refused": 1, "expired": 1} and box.pending() == []
    assert hook.received[0].status == 400 and all(r.status == 503 for r in hook.received[1:])
    assert any("refused after 1 attempt(s): HTTP 400" in p for p in problems)


def test_a_redirecting_webhook_is_not_followed(tmp_path: Path) -> None:
    (event,) = flap([T])
    with WebhookReceiver(failures=[302]) as hook:
        alerts = AlertDispatcher([hook_channel(hook)], outbox=tmp_path / "o.sqlite")
        alerts.send(event)
        alerts.close(timeout=3)
    assert [r.status for r in hook.received] == [302]
    assert Outbox(tmp_path / "o.sqlite").counts() == {"refused": 1}


def test_watch_prints_what_is_pending_and_the_next_run_delivers_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = flapping_history(tmp_path / "mrt", flaps=0)
    with WebhookReceiver(failures=[500] * 10_000) as hook:
        config = write_config(tmp_path, hook)
        assert load_config(config).outbox_path == tmp_path / "alerts.outbox.sqlite"
        code = main(["watch", "--config", str(config), *map(str, paths)])
    out, err = capsys.readouterr()
    assert code == 0
    assert f"still pending in {tmp_path / 'alerts.outbox.sqlite'}" in err
    pending_lines = [line for line in err.splitlines() if "alerts:   pending [" in line]
    assert pending_lines and all("expires" in line for line in pending_lines)
    assert "HTTP 500" in pending_lines[0]  # the first was tried; the others wait behind it, in order
    assert any("[dedupe] new_upstream: AS131279 (Star JV)" in line for line in pending_lines)
    with WebhookReceiver() as hook:  # the receiver is back; same config (same URL paths)
        config.write_text(config.read_text().replace(
            config.read_text().split('url = "')[1].split("/dedupe")[0], hook.url("")))
        code = main(["watch", "--config", str(config), *map(str, paths)])
    out, err = capsys.readouterr()
    assert code == 0 and "still pending" not in err
    delivered = [(r.path, r.json()["type"], r.json()["time"]) for r in hook.accepted()]
    # what was pending, each once, though the second run found the same events again
    assert len(delivered) == len(set(delivered)) == len(pending_lines)
    assert "already sent before" in err
