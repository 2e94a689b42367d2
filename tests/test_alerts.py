"""Alerts: the TOML config, de-duplication and rate limits, webhooks that retry against a local
receiver failing the first attempts, and `watch --config` over archive replays and RIS Live."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from local_webhook import HANG_UP, WebhookReceiver
from local_ws import LocalWebsocketServer
from test_watch import SCRIPTS, T, expected_subscriptions, flapping_history
from transitwatch.cli.main import main
from transitwatch.detect.upstream_change import UpstreamEvent
from transitwatch.live.alerts import (
    AlertConfigError,
    AlertDispatcher,
    ChannelConfig,
    StdoutChannel,
    WebhookChannel,
    load_config,
)
from transitwatch.live.watch import WatchEvent
from transitwatch.state.target import Target

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "alerts.toml"


def flap(times: list[float]) -> list[WatchEvent]:
    """AS20485 appearing and disappearing for AS131279, alternately, at ``times``."""
    target = Target.parse("AS131279")
    return [WatchEvent(UpstreamEvent("new_upstream" if i % 2 == 0 else "lost_upstream", target, 20485,
                                     t, t, "peers"), "AS131279", t)
            for i, t in enumerate(times)]


# --- config ---------------------------------------------------------------------------------------

def test_the_example_config_loads(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    head, marker, webhook = text.partition("# --- a webhook (Slack-compatible): uncomment")
    assert marker and "\n[[channels]]" not in webhook  # shipped commented out: no URL to post to
    uncommented = "\n".join(line.removeprefix("# ") for line in webhook.splitlines()[1:])
    (tmp_path / "alerts.toml").write_text(head + uncommented)
    assert [c.type for c in load_config(EXAMPLE).channels] == ["stdout", "log"]
    config = load_config(tmp_path / "alerts.toml")
    assert [t.label for t in config.targets] == ["AS131279", "175.45.176.0/22", "KP"]
    assert config.targets[2].subscription() == ([], ["131279$"])
    assert [c.type for c in config.channels] == ["stdout", "log", "webhook"]
    slack = config.channels[2]
    assert (slack.format, slack.retries, slack.backoff, slack.rate_limit, slack.dedupe) == (
        "slack", 5, 2.0, 5, 3600.0)
    assert config.channels[1].path == tmp_path / "transitwatch-alerts.jsonl"  # next to the config
    assert config.settings.min_duration == 300 and config.timezone == "Asia/Pyongyang"
    assert "XXXX" not in json.dumps(config.to_dict())  # the webhook's secret path is not shown


@pytest.mark.parametrize(("text", "message"), [
    ("[[targets]]\nas = 'AS13x'\n", "targets[0]: unknown target 'AS13x'"),
    ("[[targets]]\nas = 1\nprefix = '10.0.0.0/8'\n", "targets[0]: give exactly one of"),
    ("[[targets]]\nas = 'KP'\n", "use country = 'KP'"),
    ("[[channels]]\ntype = 'pager'\n", "channels[0].type: unknown channel type 'pager'"),
    ("[[channels]]\ntype = 'webhook'\n", "channels[0].url: a webhook channel needs url"),
    ("[[channels]]\ntype = 'webhook'\nurl = 'ftp://x/'\n", "channels[0].url: not an http(s) URL"),
    ("[[channels]]\ntype = 'log'\n", "channels[0].path: a log channel needs path"),
    ("[[channels]]\ntype = 'stdout'\nrate_limit = 0\n", "channels[0].rate_limit: must be at least 1"),
    ("[[channels]]\ntype = 'stdout'\ndedupe = 'soon'\n", "channels[0].dedupe: cannot read duration 'soon'"),
    ("[watch]\nmin_peers = true\n", "watch.min_peers: expected int"),
    ("[watch]\ndetectors = ['upstreams']\n", "watch: unknown detector 'upstreams'"),
    ("[watch]\ntimezone = 'Mars/Olympus'\n", "watch.timezone:"),
    ("[watsch]\n", "config: unknown key 'watsch'"),
    ("[[targets]\n", "not valid TOML"),
])
def test_bad_configs_are_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    with pytest.raises(AlertConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


# --- de-duplication and rate limits --------------------------------------------------------------

def test_a_flapping_route_is_deduplicated_and_rate_limited() -> None:
    times = [600.0 * i for i in range(12)]  # new, lost, new... every 10 minutes for two hours
    dedupe_out, rate_out = io.StringIO(), io.StringIO()
    dedupe = StdoutChannel(ChannelConfig("stdout", "dedupe", dedupe=3600, rate_limit=100, format="json"),
                           dedupe_out)
    rate = StdoutChannel(ChannelConfig("stdout", "rate", dedupe=0, rate_limit=3, rate_window=3600,
                                       format="json"), rate_out)
    alerts = AlertDispatcher([dedupe, rate])
    for event in flap(times):
        alerts.send(event)
    alerts.close()
    sent = [json.loads(line) for line in dedupe_out.getvalue().splitlines()]
    # the same (type, target, upstream) at most once an hour: new at 0 and 3600, lost at 600 and 4200
    assert [(a["type"], a["time"][11:19]) for a in sent] == [
        ("new_upstream", "00:00:00"), ("lost_upstream", "00:10:00"),
        ("new_upstream", "01:00:00"), ("lost_upstream", "01:10:00")]
    assert (dedupe.stats.sent, dedupe.stats.deduplicated, dedupe.stats.rate_limited) == (4, 8, 0)
    got = [json.loads(line) for line in rate_out.getvalue().splitlines()]
    # three an hour: 0, 600, 1200 go; 1800-3000 are held back; 3600 goes and says so; ...
    assert [a["time"][11:19] for a in got if a["record"] == "alert"] == [
        "00:00:00", "00:10:00", "00:20:00", "01:00:00", "01:10:00", "01:20:00"]
    assert got[3]["rate_limited_before"] == 3
    assert "3 alert(s) held back by the rate limit" in got[3]["summary"]
    assert got[-1]["record"] == "rate_limit" and got[-1]["rate_limited"] == 3  # told at close
    assert (rate.stats.sent, rate.stats.rate_limited, rate.stats.messages) == (6, 6, 1)


def test_channel_filters_by_event_type_and_target() -> None:
    out = io.StringIO()
    channel = StdoutChannel(
        ChannelConfig("stdout", "losses", events=("lost_upstream",), targets=("AS131279",)), out)
    other = StdoutChannel(ChannelConfig("stdout", "other", targets=("AS4837",)), io.StringIO())
    alerts = AlertDispatcher([channel, other])
    for event in flap([0.0, 600.0, 7200.0]):
        alerts.send(event)
    assert channel.stats.sent == 1 and out.getvalue().startswith("lost_upstream: AS131279 lost upstream")
    assert other.stats.sent == 0


# --- webhooks -------------------------------------------------------------------------------------

def test_webhook_retries_with_backoff_until_the_receiver_accepts() -> None:
    problems: list[str] = []
    with WebhookReceiver(failures=[500, HANG_UP, 429], retry_after="0") as hook:
        channel = WebhookChannel(ChannelConfig("webhook", "ops", url=hook.url("/alerts"), backoff=0.01,
                                               headers={"X-Token": "t0ken"}), problems.append)
        alerts = AlertDispatcher([channel], tz="Asia/Pyongyang")
        (event,) = flap([T + 1200])
        alerts.send(event)
        alerts.close(timeout=10)
    assert [r.status for r in hook.received] == [500, HANG_UP, 429, 200]
    assert len({r.body for r in hook.received}) == 1  # the same alert, retried
    body = hook.accepted()[0].json()
    assert (body["type"], body["target"], body["subject"], body["event"]["upstream"]) == (
        "new_upstream", "AS131279", "AS20485", 20485)
    assert body["event"]["onset_local"] == "2017-10-01T16:50:00+08:30"
    assert hook.received[-1].headers["X-Token"] == "t0ken"
    assert hook.received[-1].headers["Content-Type"] == "application/json"
    assert (channel.stats.sent, channel.stats.attempts, channel.stats.failed) == (1, 4, 0) and not problems


def test_webhook_slack_payload_and_giving_up() -> None:
    problems: list[str] = []
    with WebhookReceiver(failures=[503] * 3 + [404]) as hook:
        slack = WebhookChannel(ChannelConfig("webhook", "slack", url=hook.url("/services/T0/B0/secret"),
                                             format="slack", retries=2, backoff=0.01), problems.append)
        alerts = AlertDispatcher([slack])
        first, second = flap([T, T + 600])
        alerts.send(first)   # 503, 503, 503: gives up after 2 retries
        alerts.send(second)  # 404: not retried
        alerts.close(timeout=10)
    assert [r.status for r in hook.received] == [503, 503, 503, 404]
    assert hook.received[0].json() == {"text": first.summary()}
    assert (slack.stats.sent, slack.stats.failed, slack.stats.attempts) == (0, 2, 4)
    assert "gave up after 3 attempt(s): HTTP 503: new_upstream: AS131279" in problems[0]
    assert "refused after 1 attempt(s): HTTP 404" in problems[1]
    assert all("secret" not in p and "/…" in p for p in problems)


# --- watch --config ------------------------------------------------------------------------------

def write_config(tmp_path: Path, hook: WebhookReceiver, extra: str = "") -> Path:
    config = tmp_path / "alerts.toml"
    config.write_text(f"""
[[targets]]
as = 131279
name = "Star JV"

[[channels]]
type = "stdout"

[[channels]]
type = "log"
path = "alerts.jsonl"
dedupe = "0"

[[channels]]
type = "webhook"
name = "dedupe"
url = "{hook.url('/dedupe')}"
backoff = "0.01s"

[[channels]]
type = "webhook"
name = "rate"
url = "{hook.url('/rate')}"
backoff = "0.01s"
dedupe = "0"
rate_limit = 2
rate_window = "3h"
{extra}""")
    return config


def test_watch_config_replays_archive_files_through_the_alerts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = flapping_history(tmp_path / "mrt", flaps=2)  # 20485: gained, lost, three times
    with WebhookReceiver(failures=[500, HANG_UP]) as hook:
        code = main(["watch", "--config", str(write_config(tmp_path, hook)), "--json", *map(str, paths)])
    out, err = capsys.readouterr()
    assert code == 0
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [a["type"] for a in logged] == ["new_upstream", "lost_upstream"] * 3
    assert [a["event"]["target_name"] for a in logged] == ["Star JV"] * 6
    # once an hour per (type, upstream): the second loss and the third gain come 40 min after the last
    printed = [json.loads(line) for line in out.splitlines()]
    assert [a["event"]["onset"] for a in printed] == [logged[i]["event"]["onset"] for i in (0, 1, 2, 5)]
    by_path = {p: [r.json() for r in hook.accepted() if r.path == p] for p in ("/dedupe", "/rate")}
    assert [a["event"]["onset"] for a in by_path["/dedupe"]] == [a["event"]["onset"] for a in printed]
    # two per three hours, then at exit: how many were held back
    assert [a["record"] for a in by_path["/rate"]] == ["alert", "alert", "rate_limit"]
    assert by_path["/rate"][-1]["rate_limited"] == 4
    assert len(hook.received) == len(hook.accepted()) + 2  # the two failures were retried
    assert "alerts: stdout: 4 sent, 2 deduplicated; log: 6 sent; dedupe: 4 sent, 2 deduplicated; " \
           "rate: 2 sent, 4 rate-limited" in err


def test_watch_config_live_alerts_reach_the_webhook_after_retries(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with WebhookReceiver(failures=[502, 502]) as hook, \
            LocalWebsocketServer(SCRIPTS, expect_subscriptions=expected_subscriptions()) as server:
        config = write_config(tmp_path, hook, "notices = true\n")  # the rate channel hears gaps too
        code = main(["watch", "--config", str(config), "--live", "--ris-live-url", server.url,
                     "--for", "2.5s", "--backoff", "0.01", "--baseline", "0"])
    out, err = capsys.readouterr()
    assert code == 0
    assert len(out.splitlines()) == 1
    assert out.startswith("new_upstream: AS131279 (Star JV) new upstream AS20485")
    dedupe = [r.json() for r in hook.accepted() if r.path == "/dedupe"]
    assert [(a["type"], a["event"]["onset"]) for a in dedupe] == [("new_upstream", "2017-10-01T08:20:00Z")]
    rate = [r.json() for r in hook.accepted() if r.path == "/rate"]
    assert [a["record"] for a in rate] == ["alert", "notice", "notice"]
    assert "connection dropped" in rate[1]["summary"]
    assert len(hook.received) == len(hook.accepted()) + 2
    assert "malformed message" in err
