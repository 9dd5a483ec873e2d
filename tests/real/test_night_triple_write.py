"""The night triple write: host-a ran the export twice (a crontab line and a systemd timer) and host-b ran it
once, so every key holds three copies, two of them host-a's. Named multi_host, the words said only "disable it
on one host": a person who does so on host-b still has host-a writing every key twice. The cluster's copies per
host tell it (two runs on host-a, one on host-b), so the summary and the recommendations must say both."""

from __future__ import annotations


def test_triple_write_names_the_second_launcher_on_host_a(outcomes):
    truth, scans = outcomes("night_triple_write")
    table, doc = scans["writers"]
    assert len(table.clusters) == truth.facts["batch"]
    [incident] = table.incidents
    print(incident.summary, incident.details["recommendations"], sep="\n")
    assert incident.mechanism == "multi_host", incident.summary
    assert "up to 3 times" in incident.summary, incident.summary
    text = " ".join([incident.summary, *incident.details["recommendations"]])
    assert "host-a ran the job twice" in incident.summary, incident.summary
    assert any("host-a" in step and "systemctl list-timers" in step for step in incident.details["recommendations"])
    assert "host-b once" in incident.summary and "disable it on one host" not in text, text
    # each key's own sentence says it: two of its three copies are host-a's, from two runs
    for cluster in table.clusters:
        assert "host-a wrote 2 of the 3 copies, in 2 runs" in cluster.explanation, cluster.explanation
        assert "host-b wrote 1" not in cluster.explanation, cluster.explanation
