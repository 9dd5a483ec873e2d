"""The attribution model: every parameter in one place, each with the measurement or reason behind it.

It is a naive-Bayes (Fellegi–Sunter style) model. Each evidence module returns discrete observations
(``feature = value``); for every mechanism the model holds P(value | mechanism), the way a record-linkage
model holds its m and u probabilities. A cluster's score for a mechanism is the log prior plus the sum of
the log probabilities of what was observed (features not observed are left out: they cancel). The scores
become a posterior with a softmax, and the posterior of the answer becomes a **calibrated** confidence
through a binned map measured on the tuning set: among answers given 0.8, about 80% were right there.

Where the evidence cannot separate the best mechanisms (the winner's posterior below ``ABSTAIN_BELOW``
with a runner-up above ``SHORTLIST_FROM``), the answer is ``unknown`` with the shortlist and the one signal
that would settle it (``SETTLING``), never a coin flip presented as an answer.

A confidence is the probability of what the answer claims: a named answer, that the truth is that mechanism; an
``unknown``, that the truth is in its shortlist (the summed posterior of the shortlist, calibrated). So the
calibration map (``CALIBRATION``, fitted by ``sample_data/tune.py``'s ``fit_calibration``) and the held-out
expected calibration error count an ``unknown`` right exactly when its shortlist holds the truth, in every mode.
The accuracy is another figure: there a named-mode ``unknown`` is never right (sample_data/tune.py's protocol).
Until the thirteenth session the calibration counted a named-mode ``unknown`` holding the truth as wrong.

Two kinds of parameter:

- **measured**: counts of feature values per true mechanism on the tuning set of the labelled generators
  (``sample_data/labelled.py`` and ``sample_data/harder.py``, tuning seeds and parameter ranges only; see
  ``sample_data/tune.py``, which rewrites the ``MEASURED`` block below). Probabilities are the counts with
  add-``SMOOTHING`` smoothing, so a value never seen with a mechanism is unlikely, never impossible.
- **reasoned**: signals the generators cannot produce (commit timestamps, job logs, the clock change, one
  transaction, sessions told apart by heap blocks), set from how the mechanism works; the reason is written
  beside each.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .observe import Observation

MECHANISMS = ("deploy_overlap", "multi_host", "duplicate_run", "worker_race", "retry", "same_transaction",
              "dst_fallback")

# Prior: uniform. The mix of mechanisms in a table is not known in advance, and the generators' mix is an
# arbitrary choice that must not leak into answers on real tables.
PRIOR = {m: 1 / len(MECHANISMS) for m in MECHANISMS}

SMOOTHING = 1.0  # add-one (Laplace) on the measured counts
# No measured probability goes below this: the generators do not cover every shape real writers produce
# (two launchers started by one cron minute write their copies milliseconds apart, which the tuning set's
# double runs never did), so a value never seen with a mechanism is evidence against it, bounded at
# ln(1/MEASURED_FLOOR) ≈ 4.6 per observation, never a veto.
MEASURED_FLOOR = 0.01
# The floor applies to the shape of the writes (timing, coverage, pairs), not to which writer columns
# differ: a host difference is what multi_host means (design.md), so that evidence keeps its full weight.
FLOORED = {"gap", "coverage", "span_coverage", "offsets", "span_offsets", "order", "pace", "repeat", "gap_local",
           "around", "around_apart"}
# An observation joining several readings (without writer columns: the gap, the neighbourhood and the chain,
# timing.observe says why) is floored as two observations would be, MEASURED_FLOOR squared (ln 1e4 ≈ 9.2):
# a shape the generators never produced costs a mechanism what two unseen readings would, no more. (On the
# tuning set, none mode, where the truth can be named: floored at 0.01, 0.918 and 257 batch clusters named
# a race; squared, 0.956 and 72; cubed, the same as squared.)
JOINT = {"gap_local": 2}
# A joint value the tuning set saw fewer than JOINT_MIN times (all mechanisms together) is read as its
# readings apart: add-one smoothing over a hundred joint values would otherwise favour whichever mechanism
# had the fewest tuning clusters (a burst of races on a loaded machine, copies under 5 ms apart in a long
# chain, a combination the generators never made, was named a retry).
JOINT_MIN = 20
# Readings another observation already accounts for, left out where it was made. Two hosts each writing again
# much of what the other wrote (host_pair) is read as both running the job, and two hosts running a
# check-then-act job together collide on a row they read at the same moment: within each writer's own interval
# between rows by construction. The pace reading, measured on generated double runs at offsets (335 of 7,987
# multi_host clusters within), counted that closeness a second time after the gap: a review's two hosts
# running one invoicing job (each writing again 75% and 92% of the other's rows, copies 1-5 ms apart) were
# answered worker_race for 77 of 161 clusters with host_pair in hand (+3.7 gap, +2.8 pace, -4.3 host_pair).
# On the tuning set host_pair fires on multi_host and deploy_overlap clusters only (6,424).
# Keys written a varying number of times (copies) are read as a pool whose workers all take the oldest pending
# item: every worker then writes nearly every key, so "each writer wrote again all the other wrote" (coverage)
# is that same fact counted again, measured on generators that write each key at most twice (no race there
# had all/all). A review's pool of six read coverage all/all (-4.6) against copies varying (+4.1) and 20 clusters
# came out unknown between duplicate_run and multi_host. Never fires on the tuning or held-out sets.
# Two sessions each writing again much of what the other wrote (session_pair, the anonymous host_pair) is read
# as both running the job; the neighbourhood readings (gap_local's share of neighbours written twice, around:
# the gap against its neighbours') describe those same collisions in a window of 100 ms, measured on generated
# double runs that collide on every key. A real pair of APScheduler processes colliding on 44-60% of their
# claims had 1-18 of 35-52 clusters named worker_race at 0.76-0.95 on that reading (+4.7) against two sessions.
# With timestamps in whole seconds the gap is known to a second only (timing.gap_bucket: 0 s, 1 s, 2 s or more), so
# "less or more than the writer's own interval between rows" (pace) says what the gap bucket already said, not
# what happened: a gap of 0 s is within any pace by construction, and a race 10 ms apart astride a second boundary
# reads 1 s, "after" a pace of 50 ms. On tuning seeds generated with the held-out ranges, 13 races read so were
# named retry at 0.92 (pace after +0.7); with the pace left out 12 are unknown {worker_race, retry}.
# Keys written per firing (copies "per firing": every key of each firing written once by each of one set of
# writers) are N schedulers or runs each walking the batch; how close one key's copies are (gap, pace) and which two
# of them came first (pair_clusters, the pair's order and offsets are read per pair over the episode) then say when
# the processes woke, not how a claim was read: four gunicorn workers' schedulers firing at the same second wrote
# each hour's first key within 5 ms (+3.7 for a race on the gap alone), and the first two writers of a key changed
# key by key, so a key whose first two no other key shares read pair_clusters 1 (+3.6): 1-9 of 50 clusters named
# worker_race or unknown with the per-firing reading in hand (tests/test_stranger22_gunicorn_scheduler.py).
# Never fires on the tuning or held-out sets (their generators write each key at most twice).
READ_ONCE = {("host_pair", "most"): ("pace",), ("copies", "varying"): ("coverage", "span_coverage"),
             ("copies", "per firing"): ("gap", "pace", "pair_clusters"),
             ("session_pair", "most"): ("gap_local", "around", "around_apart"),
             ("gap", "0s whole"): ("pace",), ("gap", "1s whole"): ("pace",), ("gap", ">=2s whole"): ("pace",)}

# Mechanisms named only on their own evidence: the clock-change pair and one transaction id. Without that
# observation nothing else in the model speaks for them (the generators do not produce them without it,
# so measured tables hold no counts for them), and they are left out of the running.
REQUIRES = {"dst_fallback": ("dst", "repeated hour"), "same_transaction": ("xmin", "same")}
# With writer columns a deploy overlap is named only when the version column differs between the copies
# (design.md: "the rows' version differs"); without a version column it cannot be told from two hosts.
REQUIRES_NAMED = {"deploy_overlap": ("version", "differ")}
# And what the recorded writer columns rule out by definition, whatever the shape of the writes says: two
# hosts where every copy names one host, one host where the copies name two (a hypothesis test drew timing
# strong enough to outweigh "one host wrote every copy" and the sentence said "two hosts both ran the job").
# A job log (--runs) naming the hosts of the runs the copies fell in says the same (jobruns._hosts): found by
# a review whose two overlapping runs on one host were answered "one host or two? a host column would say".
EXCLUDED_BY = {"multi_host": (("host", "same"), ("runs_host", "same")),
               "duplicate_run": (("host", "differ"), ("runs_host", "differ"))}
# Without writer columns nothing tells one host from two or one release from two: whatever the measured
# tables say about these three there is the generators' choice of offsets and shares, not evidence. Their
# likelihoods are pooled (log-mean-exp), so the answer is the shortlist, never one of them by chance.
POOLED_WITHOUT_WRITERS = ("duplicate_run", "multi_host", "deploy_overlap")
# With writer columns but no host among them (a run or process column only, found by name or in the data)
# the same holds for one host or two: two runs of one job on one host and one run on each of two hosts
# write the same copies. Found by a stranger's table (a scheduler-name column read as a run id): the model
# said duplicate_run at 98% "on one host" with nothing recording hosts. Pooled the same way.
POOLED_WITHOUT_HOST = ("duplicate_run", "multi_host")
# Two hosts that wrote every row of the span, one writer each, and collided on fewer than 15% of their rows
# (timing.host_pair "few"): two schedulers running one check-then-act job with their phases apart, taking turns
# and colliding now and then, write exactly what a pool of one worker on each host writes. The shape readings
# cannot part them: measured on generated double runs that write the whole batch, they read a real pair of
# APScheduler hosts colliding on 3-10% of their claims (7-15 invoices) as worker_race at 0.99 (tests/real
# two_schedulers_claim_apart). On the tuning set "few" fires on no cluster. Without writer columns two writers
# whose copies split into two walks through the keys, colliding as rarely (transactions.session_pair "few"),
# may be two runs on one host or two, of one release or two, or a pool of two: the four pooled, the shortlist
# keeping the first SHORTLIST_MAX. Pooled the same way.
POOLED_FEW_COLLISIONS = {("host_pair", "few"): ("multi_host", "worker_race"),
                         ("session_pair", "few"): ("worker_race", "duplicate_run", "multi_host", "deploy_overlap")}
# What those pools cannot say the job's log can: two runs of one job on two hosts, or one pool's run. Its
# reading joins after the pooling (naming the answer as the other readings never could).
AFTER_POOLING = ("runs",)
# Timestamps in whole seconds (timing.gap_bucket's "0s whole": nine in ten cluster timestamps without a fraction)
# and copies two hosts wrote in the same second: two schedulers firing one job on two hosts and a pool's workers
# on two hosts racing on one claim both write copies under a second apart, and what parts them on a finer column
# (the gap in milliseconds, the gap against the writer's own pace, an offset constant to 10%) is cut away: a
# gap of 0 s is "within" any pace by construction, and copies a constant 0.5 s apart read 0 s or 1 s apart as
# the second ticks. Measured on the tuning set, those readings say worker_race (0s whole: 458 of 1,622 race
# clusters, 284 of 5,996 multi_host; pace within 70% against 4%): fresh-10's harder seed 9902 (whole seconds,
# its second run overtaking the first, so the offsets vary by seconds) had 79 multi_host clusters named
# worker_race at 0.9 and more, which the job log would have named. Multi_host and worker_race are pooled there
# (the shortlist, sub-second timestamps or the job log as the signal), the pace and the offsets are not read,
# and the readings whole seconds leave intact part them after the pooling: how much of what each writer wrote
# another wrote too (coverage: a batch both hosts ran, all/most, against a pool's few collisions, few/few),
# the pair's own share (host_pair), a whole batch written twice, copy counts that vary, commit timestamps and
# the job log. On the tuning set (its five whole-second harder seeds) it fires, per named mode, on 142 multi_host
# (134 host_pair most, 8 coverage all/some), 20 race (coverage few/few or some/few), 3 retry and 47 deploy_overlap
# clusters, and changed no tuning answer by itself (only the raw posteriors: the calibration was refitted). Tuning seeds
# 1000/1003/1009-1011 generated with the held-out ranges (a second run overtaking the first): 7 multi_host clusters
# named worker_race (coverage most/some) are the shortlist now, 50 answered unknown are named multi_host (coverage
# most/most). Left: coverage is counted against any writer, so where it reads as a pool's does (some/some: each
# host wrote again 15-50% of what the other wrote, most of it more than a window apart) the answer stays
# worker_race; and host_pair, read after the pooling, takes one key two writers of a handful of rows share for
# "each wrote again 15%" (fresh-10, validation: one race so named multi_host) unless the pair shares 2 keys or
# more (timing.PAIR_MIN_KEYS, since the fourteenth session: it changed the reading on no tuning or fresh-11 cluster).
WHOLE_SECONDS_ACROSS_HOSTS = frozenset({("gap", "0s whole"), ("host", "differ")})
POOLED_WHOLE_SECONDS = ("multi_host", "worker_race")
NOT_READ_WHOLE_SECONDS = ("pace", "offsets")
AFTER_WHOLE_SECONDS = ("coverage", "host_pair", "whole_batch", "copies", "commit", "runs")
WHOLE_SECONDS_SIGNAL = "timestamps with sub-second precision (this column keeps whole seconds)"
# A copy made and committed while the first copy's transaction, open since before it, still had not committed
# (transactions.commit_order "overtaken"): a retry of an attempt that had not answered, or a second run of a
# check-then-act job reaching the key while the first run was stalled on it. Either way the later writer wrote
# only the keys the first one still held uncommitted, a lag behind it: a second run checking first skips every
# key the first committed, as a retry is only made for the attempts that did not answer, and a client's timeout
# is as constant a lag as a second run's offset. The shape readings cannot part them: measured on generated runs
# that insert without checking (every key twice: span coverage most or all) and retries that never overlap (a
# few keys among many), they read stranger20's client retrying 4 of 6 slow requests on one pod (80% of the rows
# written then have a key written twice, the retries a constant 1.1-1.4 s behind) as duplicate_run at 0.99 with
# retry at 0.002, and commit timestamps at any reasoned weight left duplicate_run at 0.88 and more. Pooled, the
# retry first (the shortlist keeps SHORTLIST_MAX: without writer columns it drops deploy_overlap, the one the
# reading says least about); a process or run column and the job's log part them, read after the pooling. The
# generators write no commit timestamps: the reading fires on no tuning or held-out cluster.
# Only where the writer columns tell the copies' writers nobody apart (one host, one release, or none recorded):
# copies of two hosts or two releases hold more (each host writing again much of what the other wrote, which a
# retry landing on another pod does not), and a rolling deploy's two releases must keep their own answer there.
POOLED_OVERTAKEN = {("commit", "overtaken"): ("retry", "duplicate_run", "multi_host", "deploy_overlap")}
AFTER_OVERTAKEN = ("process", "runs")
NOT_POOLED_OVERTAKEN = frozenset({("host", "differ"), ("version", "differ")})
# A calibration bin holding fewer tuning answers than this is not trusted; the raw posterior is used there
# (the named-mode abstentions had 28 tuning examples, all in two bins, and mapped every shortlist to 0%).
MIN_BIN = 50
# A mechanism the tuning set showed a measured feature on fewer than this many clusters is read as the mechanisms
# measured on more, on average: 2 retries' neighbourhoods (around, both "longer") gave a retry 0.43 for a reading
# the thousands of batch clusters gave 0.003, and five keys two schedulers wrote 2-11 ms apart were answered retry
# at 0.44-0.76 (tests/real apscheduler_dag_run without writer columns). A mechanism with none is left as smoothing
# reads it (a mechanism the generators cannot write: one transaction, the clock change).
MIN_MEASURED = 10

# Abstention: below this posterior the winner is not presented as the answer when a runner-up holds at
# least SHORTLIST_FROM. Chosen on the tuning set (sample_data/tune.py prints accuracy and abstention rate
# for 0.5–0.8): 0.6 abstains only where two mechanisms are about equally likely.
ABSTAIN_BELOW = 0.6
SHORTLIST_FROM = 0.15
SHORTLIST_MAX = 3

# Reasoned probabilities P(value | mechanism); a mechanism left out gets OTHERWISE[feature].
REASONED: dict[str, dict[str, dict[str, float]]] = {
    # The clock-change pair is a local-time schedule firing in the repeated hour. Any other mechanism lands
    # a pair in that one hour of the year, on one host, only by chance (~1/8760 of the hours; 0.003 leaves
    # room for a night with many incidents).
    "dst": {"repeated hour": {"dst_fallback": 0.95}},
    # One xmin for every copy: one transaction inserted them. Two runs, two workers, two hosts or a retry
    # insert in separate transactions by construction; 0.002 covers a driver that batches two sessions'
    # statements (none known).
    "xmin": {"same": {"same_transaction": 0.98}, "differ": {"same_transaction": 0.02}},
    # Commit timestamps. Overlapped: a copy written while the previous copy's transaction was still open.
    # A check-then-act race does exactly that when the claim and insert share a transaction; two runs of a
    # batch job each holding one long transaction do too. A retry starts after the attempt failed or timed
    # out, so its previous transaction is normally over (0.05: a hung attempt whose transaction is still
    # open when the message is redelivered).
    # Sequential: each copy written at least RETRY_PAUSE after the previous one committed. A race's second
    # check would have seen the first commit, so a race almost never looks like this (0.02); a retry or a
    # redelivery always does when the timestamp is the insert time (0.8); two runs one after the other
    # sometimes (0.3).
    # Overtaken: the later copy came at least 50 ms after the first (more than one claim's milliseconds) and its
    # transaction committed while the first one, open since before it, still had not: a second attempt at the
    # key made and finished while the first still held its transaction. A client or a queue gives up on an
    # attempt that has not answered, and the attempt that has not answered is the slow one, often still inside
    # its transaction (a slow service called between the insert and the commit); the retry, a fresh attempt,
    # finishes first unless it stalls as long (0.15; the 0.05 above is the retry that stalls too). Two runs of
    # one job do the same work per key, the later one behind by its offset: it finishes a key first only where
    # the earlier run stalled on that key longer than the whole offset (0.05); two racing workers take one claim
    # within milliseconds, so one of them stalled that long (0.05). stranger20's client posting to one pod with
    # a 1 s timeout wrote exactly this (first attempts committing 1.3-1.8 s after their insert, each retry
    # inside them), and was named duplicate_run at 99.6% on "overlapped" (0.05 against 0.45). Where it is read
    # the retry and the runs are pooled (POOLED_OVERTAKEN says why).
    "commit": {
        "overlapped": {"worker_race": 0.6, "retry": 0.05, "duplicate_run": 0.45, "multi_host": 0.45,
                       "deploy_overlap": 0.45, "dst_fallback": 0.05},
        "overtaken": {"worker_race": 0.05, "retry": 0.15, "duplicate_run": 0.05, "multi_host": 0.05,
                      "deploy_overlap": 0.05, "dst_fallback": 0.01},
        "sequential": {"worker_race": 0.02, "retry": 0.8, "duplicate_run": 0.3, "multi_host": 0.3,
                       "deploy_overlap": 0.3, "dst_fallback": 0.9},
    },
    # Job runs from the job log. Two runs of one job holding the copies is the double-run signature; a
    # retry inside a re-run job also spans two runs (0.15); a race or one transaction stays inside one run.
    # Among several: the copies in different runs while three or more runs of that job were active at once
    # (jobruns.POOL_RUNS). A pool whose workers each log their own run writes exactly that: a real
    # multiprocessing pool of eight logged eight runs of one job, and 1 of 230 of its races (3 of 234 for a
    # pool of six) read as "two runs" came out duplicate_run at 0.85. A job that ran twice has two runs active,
    # three only with a third launcher or host (0.1); a redelivered task amid its worker's other tasks (0.3).
    # Taken over (runs.handovers): the first run ended before any of its copies was written again, by a run
    # active since before the first copies: a consumer that outlived a killed one and got its unacknowledged
    # messages (a real Celery worker SIGKILLed, each worker's lifetime logged as a run: read "two runs", it was
    # multi_host 53% against retry 47%). Of redeliveries logged that way, those after a death (0.3); a rolling
    # deploy whose old pod was stopped mid-batch and the new one redid its work (0.2); a job that ran twice
    # writes copies while both runs run, or its second run starts after the first copies (0.02); a worker
    # that exits between two racing writes (0.01).
    # Run again (runs.annotate's same_run_id): the copies fall in two runs the log gives one run id, a task's
    # own id (on two hosts only where that id wrote one key; a logical run id two hosts share over several keys
    # is one run per host, writercols.one_per_host). A queue delivers a message again under its id, a task retry
    # keeps it (0.9); two launches of a job get a run id each unless the log records the schedule's logical run
    # on one host (0.1); a deploy's old and new pod each running one queued task is a redelivery across the
    # deploy (0.1); two hosts running one task id (0.02); a race is inside one run (0.05: a message handed to two
    # consumers at once by an expired visibility timeout is that redelivery). A real kombu consumer timing out
    # on a printer and dying unacknowledged (stranger16's label_printer, tests/real): read "two runs", one
    # redelivery to another host was multi_host 0.82.
    "runs": {
        "run again": {"retry": 0.9, "duplicate_run": 0.1, "deploy_overlap": 0.1, "multi_host": 0.02,
                      "worker_race": 0.05, "dst_fallback": 0.02, "same_transaction": 0.001},
        "taken over": {"retry": 0.3, "deploy_overlap": 0.2, "duplicate_run": 0.02, "multi_host": 0.02,
                       "dst_fallback": 0.01, "worker_race": 0.01, "same_transaction": 0.001},
        "two runs": {"duplicate_run": 0.9, "multi_host": 0.9, "deploy_overlap": 0.9, "dst_fallback": 0.9,
                     "retry": 0.15, "worker_race": 0.05, "same_transaction": 0.01},
        "among several": {"duplicate_run": 0.1, "multi_host": 0.1, "deploy_overlap": 0.1, "dst_fallback": 0.02,
                          "retry": 0.3, "worker_race": 0.6, "same_transaction": 0.01},
        "one run": {"duplicate_run": 0.1, "multi_host": 0.1, "deploy_overlap": 0.1, "dst_fallback": 0.1,
                    "retry": 0.85, "worker_race": 0.95, "same_transaction": 0.99},
    },
    # Every key of a span of at least 20 written twice (without writer columns), or two writers each writing
    # what the other wrote (at least 90% both ways, 20 keys or more): a whole batch written twice.
    # A check-then-act race duplicates the keys where two claims interleave, a retry the messages that
    # timed out; neither duplicates every key of a busy span (0.002). Measured tables cannot say this: the
    # generators' double runs mostly commit one transaction per run and are then paired by xmin instead.
    "whole_batch": {"yes": {"duplicate_run": 0.5, "multi_host": 0.5, "deploy_overlap": 0.5, "dst_fallback": 0.3,
                            "worker_race": 0.002, "retry": 0.002, "same_transaction": 0.002}},
    # Keys written a varying number of times (at least a fifth of an episode's keys more than twice, no count
    # for nine in ten of them; timing.copies). Workers who all take the oldest pending item write it as often
    # as they read it before the first one marked it done: 2-6 times, key by key, in a review's pool of six
    # (multiprocessing.Pool, check-then-act; 0.3: most races collide two at a time). k runs of a batch write
    # every key k times: varying only where a third run covered part of the batch (0.005); a retry, where some
    # messages were retried twice (0.02). The generators write every key at most twice: not measurable.
    # Per firing: the counts vary from one firing to the next only, every key of a firing (clusters whose copies
    # interleave) written once by each of one set of writers (timing.per_firing). N schedulers firing one job
    # together write that: a process whose check came after another's commit writes none of the firing's keys,
    # one whose check came before writes every one (four gunicorn workers each starting an APScheduler: 2-4
    # copies an hour, stranger22; 0.3, as a pool's varying counts). A pool's workers would each have to read
    # every key of a stretch before any marked one done, which is a batch read by each, not a claim (0.005, as
    # runs writing varying counts); a retry of a whole batch by several processes (0.02).
    "copies": {"per firing": {"worker_race": 0.005, "retry": 0.02, "duplicate_run": 0.3, "multi_host": 0.3,
                              "deploy_overlap": 0.3, "same_transaction": 0.005, "dst_fallback": 0.005},
               "varying": {"worker_race": 0.3, "retry": 0.02, "duplicate_run": 0.005, "multi_host": 0.005,
                           "deploy_overlap": 0.005, "same_transaction": 0.005, "dst_fallback": 0.005}},
    # The copies of five keys or more the same delay apart, 50 ms or more, to within 5% (timing.fixed_gap): a
    # client or visibility timeout (0.5: retries with jitter do not repeat so), two runs at a constant offset
    # (0.5), an hour exactly (dst_fallback 0.9). Two racing workers write one claim milliseconds apart; a
    # stalled one writes later by however long it stalled, which does not repeat to 5% (0.01). A review's
    # job timing out after 0.5 s left 20 keys 190 ms apart (±3 ms) and was answered worker_race: the measured
    # tables never saw a retry under a second (the generators' timeouts are 1-40 s).
    "fixed_gap": {"yes": {"retry": 0.5, "duplicate_run": 0.5, "multi_host": 0.5, "deploy_overlap": 0.5,
                          "dst_fallback": 0.9, "worker_race": 0.01, "same_transaction": 0.1}},
    # Heap blocks two-coloured into two sessions that each wrote the batch: two runs; odd cycles (more than
    # two sessions): a pool. Real concurrent sessions only (tests/test_anonymous.py); the generators insert
    # from one session, so these are not measured.
    "heap_writers": {
        "two": {"duplicate_run": 0.6, "multi_host": 0.6, "deploy_overlap": 0.6, "worker_race": 0.1,
                "retry": 0.05, "dst_fallback": 0.3},
        "several": {"duplicate_run": 0.05, "multi_host": 0.05, "deploy_overlap": 0.05, "worker_race": 0.5,
                    "retry": 0.05, "dst_fallback": 0.05},
    },
    # Two hosts each writing again at least 15% of what the other wrote then, counted for that pair alone
    # (timing.host_pair): both ran the job. Two hosts running a batch or a check-then-act job together (each
    # reads what is pending before the other marks it) do. Measured on the tuning set with writer columns
    # (sample_data/tune.py's seeds, explicit mode, every pair's share stated; not fitted, because an absent
    # reading is not counted): 2,753 of 2,993 multi_host clusters (0.92), all 773 deploy_overlap, none of 61 race
    # clusters across hosts or 34 retry clusters (at 10%: 2 races and 7 retries; 0.01: a pool of two on two hosts
    # walking one list together could). The threshold was 30% until a real pair of APScheduler hosts firing one
    # check-then-act job together collided on only 25% of their claims (CI, 2026-11-24: 17 invoices of 120, every
    # cluster answered worker_race 99.9%); in fifteen runs of that pair the share ran from 25% to 98%, as the
    # two processes' phases fell (tests/real two_schedulers_claim).
    "host_pair": {"most": {"multi_host": 0.9, "deploy_overlap": 0.9, "duplicate_run": 0.9, "worker_race": 0.01,
                           "retry": 0.01, "same_transaction": 0.01, "dst_fallback": 0.3}},
    # Two sessions told apart by heap blocks or transactions, each writing again at least 15% of what the other
    # wrote then (transactions.session_pair). Reasoned as host_pair without hosts: two runs of a job read the
    # same list (0.9 where heap blocks show two sessions: they wrote the batch or collided on their claims); a
    # race needs a pool of exactly two sessions walking one list together (0.05; pools of more show more
    # sessions); a retry is one session (0.01). Not measurable on the generators (one session inserts).
    # Where the heap tells nobody apart (both sessions filled the same blocks), the two writers are the two walks
    # through the keys in order their copies split into (transactions.walkers): the same reasoning, a pool of
    # more than two colliding three ways or out of order. On the tuning set's none mode it fires on no cluster.
    "session_pair": {"most": {"multi_host": 0.9, "deploy_overlap": 0.9, "duplicate_run": 0.9, "worker_race": 0.05,
                              "retry": 0.01, "same_transaction": 0.01, "dst_fallback": 0.3}},
}
OTHERWISE = {"copies": 0.005, "fixed_gap": 0.1, "whole_batch": 0.002, "dst": 0.003,
             "xmin": {"same": 0.002, "differ": 0.998}, "commit": 0.1, "runs": 0.5, "heap_writers": 0.1}

# --- MEASURED (rewritten by sample_data/tune.py; counts of feature values per true mechanism) ---
MEASURED: dict[str, dict[str, dict[str, int]]] = (
    {'around': {'deploy_overlap': {'other': 11, 'same': 1503, 'scattered': 339, 'shorter': 1},
                'duplicate_run': {'longer': 20, 'other': 284, 'same': 6422, 'scattered': 489, 'shorter': 63},
                'multi_host': {'longer': 4, 'other': 69, 'same': 2815, 'scattered': 780, 'shorter': 15},
                'retry': {'longer': 2},
                'same_transaction': {'scattered': 1, 'shorter': 1},
                'worker_race': {'longer': 2, 'scattered': 18, 'shorter': 7}},
     'around_apart': {'deploy_overlap': {'differs': 16},
                      'duplicate_run': {'differs': 15, 'same': 3},
                      'multi_host': {'differs': 17, 'same': 14},
                      'retry': {'differs': 154, 'same': 3},
                      'same_transaction': {'differs': 61, 'same': 1},
                      'worker_race': {'differs': 770, 'same': 19}},
     'coverage': {'deploy_overlap': {'all/all': 229, 'all/most': 751, 'all/some': 276},
                  'duplicate_run': {'all/all': 21983},
                  'multi_host': {'all/all': 395, 'all/few': 75, 'all/most': 949, 'all/some': 862, 'most/most': 242},
                  'retry': {'few/few': 54, 'some/few': 20},
                  'worker_race': {'few/few': 936, 'some/few': 366, 'some/some': 320}},
     'gap': {'deploy_overlap': {'0s whole': 94,
                                '1s whole': 102,
                                '<250ms': 250,
                                '<50ms': 20,
                                '>=250ms': 1336,
                                '>=2s whole': 378},
             'duplicate_run': {'0s whole': 1242,
                               '1s whole': 1602,
                               '<250ms': 416,
                               '<50ms': 1088,
                               '<5ms': 2,
                               '>=250ms': 11820,
                               '>=2s whole': 642},
             'multi_host': {'0s whole': 284,
                            '1s whole': 254,
                            '<250ms': 332,
                            '<50ms': 252,
                            '<5ms': 18,
                            '>=250ms': 4562,
                            '>=2s whole': 294},
             'retry': {'0s whole': 6, '1s whole': 6, '>=250ms': 272, '>=2s whole': 48},
             'same_transaction': {'0s whole': 8, '<5ms': 122},
             'worker_race': {'0s whole': 458, '1s whole': 14, '<250ms': 382, '<50ms': 116, '<5ms': 652}},
     'gap_local': {'deploy_overlap': {'0s whole|all': 17,
                                      '0s whole|most': 45,
                                      '0s whole|some': 7,
                                      '1s whole|all': 17,
                                      '1s whole|most': 92,
                                      '<250ms|all|alone': 1,
                                      '<250ms|all|long': 54,
                                      '<250ms|most|long': 139,
                                      '<250ms|most|short': 6,
                                      '<250ms|some|long': 4,
                                      '<250ms|some|short': 5,
                                      '<50ms|all|alone': 65,
                                      '<50ms|few|alone': 3,
                                      '<50ms|most|alone': 17,
                                      '<50ms|most|long': 8,
                                      '<50ms|most|short': 2,
                                      '<50ms|some|short': 3,
                                      '<5ms|most|alone': 4,
                                      '<5ms|some|alone': 1,
                                      '>=250ms|all|long': 227,
                                      '>=250ms|most|long': 1223,
                                      '>=250ms|some|long': 104,
                                      '>=250ms|some|short': 4,
                                      '>=2s whole|all': 56,
                                      '>=2s whole|most': 149},
                   'duplicate_run': {'0s whole|all': 60,
                                     '0s whole|some': 13,
                                     '1s whole|some': 5,
                                     '<250ms|all|long': 496,
                                     '<250ms|most|long': 15,
                                     '<50ms|all|alone': 300,
                                     '<50ms|all|long': 22,
                                     '<50ms|few|alone': 1,
                                     '<50ms|few|short': 1,
                                     '<50ms|most|alone': 1,
                                     '<50ms|most|long': 1,
                                     '<50ms|some|short': 2,
                                     '<5ms|all|alone': 525,
                                     '<5ms|all|long': 105,
                                     '<5ms|all|short': 2,
                                     '<5ms|few|alone': 1,
                                     '<5ms|few|short': 2,
                                     '<5ms|most|alone': 245,
                                     '<5ms|most|long': 10,
                                     '<5ms|some|alone': 7,
                                     '>=250ms|all|long': 5535,
                                     '>=250ms|all|short': 3,
                                     '>=250ms|most|long': 18,
                                     '>=250ms|some|short': 4},
                   'multi_host': {'0s whole|most': 411,
                                  '1s whole|most': 285,
                                  '1s whole|some': 6,
                                  '<250ms|all|long': 5,
                                  '<250ms|few|alone': 2,
                                  '<250ms|few|short': 2,
                                  '<250ms|most|long': 298,
                                  '<250ms|most|short': 3,
                                  '<250ms|some|long': 2,
                                  '<50ms|all|long': 1,
                                  '<50ms|few|alone': 1,
                                  '<50ms|most|alone': 23,
                                  '<50ms|most|long': 185,
                                  '<50ms|some|alone': 6,
                                  '<5ms|most|alone': 8,
                                  '<5ms|most|long': 60,
                                  '<5ms|most|short': 8,
                                  '>=250ms|all|long': 528,
                                  '>=250ms|few|alone': 1,
                                  '>=250ms|few|long': 12,
                                  '>=250ms|few|short': 8,
                                  '>=250ms|most|long': 2328,
                                  '>=250ms|some|long': 222,
                                  '>=250ms|some|short': 11,
                                  '>=2s whole|most': 156,
                                  '>=2s whole|some': 3},
                   'retry': {'1s whole|few': 2,
                             '>=250ms|all|alone': 1,
                             '>=250ms|few|alone': 150,
                             '>=250ms|few|short': 3,
                             '>=250ms|most|alone': 1,
                             '>=250ms|some|alone': 2,
                             '>=250ms|some|short': 2,
                             '>=2s whole|few': 6},
                   'same_transaction': {'0s whole|few': 15,
                                        '0s whole|most': 1,
                                        '0s whole|some': 1,
                                        '<5ms|all|alone': 1,
                                        '<5ms|few|alone': 61,
                                        '<5ms|most|alone': 1,
                                        '<5ms|some|alone': 1},
                   'worker_race': {'0s whole|few': 151,
                                   '0s whole|most': 29,
                                   '0s whole|some': 75,
                                   '1s whole|few': 14,
                                   '1s whole|most': 1,
                                   '1s whole|some': 4,
                                   '<250ms|all|alone': 1,
                                   '<250ms|few|alone': 174,
                                   '<250ms|few|short': 3,
                                   '<250ms|most|alone': 1,
                                   '<250ms|most|long': 9,
                                   '<250ms|some|alone': 59,
                                   '<250ms|some|long': 2,
                                   '<250ms|some|short': 21,
                                   '<50ms|few|alone': 51,
                                   '<50ms|few|short': 2,
                                   '<50ms|most|long': 4,
                                   '<50ms|some|alone': 27,
                                   '<50ms|some|short': 3,
                                   '<5ms|all|long': 1,
                                   '<5ms|few|alone': 331,
                                   '<5ms|few|short': 4,
                                   '<5ms|most|long': 9,
                                   '<5ms|some|alone': 106,
                                   '<5ms|some|short': 8}},
     'host': {'deploy_overlap': {'differ': 2180},
              'duplicate_run': {'same': 16812},
              'multi_host': {'differ': 5996},
              'retry': {'differ': 68, 'same': 264},
              'worker_race': {'differ': 140, 'same': 1482}},
     'offsets': {'deploy_overlap': {'constant': 2040, 'varying': 1388},
                 'duplicate_run': {'constant': 20703, 'varying': 1280},
                 'multi_host': {'constant': 5583, 'varying': 2440},
                 'retry': {'constant': 14, 'varying': 6},
                 'worker_race': {'constant': 170, 'varying': 570}},
     'order': {'deploy_overlap': {'same': 3131, 'shuffled': 283},
               'duplicate_run': {'same': 20628, 'shuffled': 1295},
               'multi_host': {'same': 7389, 'shuffled': 434},
               'retry': {'same': 20},
               'worker_race': {'same': 740}},
     'pace': {'deploy_overlap': {'after': 3259, 'within': 171},
              'duplicate_run': {'after': 19384, 'within': 2552},
              'multi_host': {'after': 7652, 'within': 335},
              'retry': {'after': 42, 'within': 28},
              'worker_race': {'after': 434, 'within': 1020}},
     'pair_clusters': {'deploy_overlap': {'1': 6, '2+': 3428},
                       'duplicate_run': {'1': 2, '2+': 21985},
                       'multi_host': {'1': 2, '2+': 8033},
                       'retry': {'1': 46, '2+': 28},
                       'worker_race': {'1': 566, '2+': 1056}},
     'process': {'deploy_overlap': {'differ': 2178, 'same': 2},
                 'duplicate_run': {'differ': 16812},
                 'multi_host': {'differ': 5996},
                 'retry': {'differ': 74, 'same': 258},
                 'worker_race': {'differ': 1622}},
     'repeat': {'deploy_overlap': {'fixed': 1797, 'single': 1097},
                'duplicate_run': {'fixed': 11079, 'single': 6301},
                'multi_host': {'fixed': 5576, 'single': 2096},
                'retry': {'fixed': 253, 'single': 178}},
     'span_coverage': {'deploy_overlap': {'few': 4, 'most': 352, 'some': 643},
                       'duplicate_run': {'few': 16, 'most': 1109, 'some': 1074},
                       'multi_host': {'few': 4, 'most': 242, 'some': 2290},
                       'retry': {'few': 358, 'most': 13, 'some': 54},
                       'same_transaction': {'all': 107, 'few': 17, 'most': 11, 'some': 76},
                       'worker_race': {'few': 184, 'most': 152, 'some': 754}},
     'span_offsets': {'deploy_overlap': {'constant': 165, 'varying': 834},
                      'duplicate_run': {'constant': 1352, 'varying': 847},
                      'multi_host': {'constant': 744, 'varying': 1792},
                      'retry': {'constant': 33, 'varying': 334},
                      'same_transaction': {'constant': 75, 'varying': 128},
                      'worker_race': {'constant': 353, 'varying': 717}},
     'txn': {'deploy_overlap': {'batch': 1254, 'single': 999},
             'duplicate_run': {'batch': 5175, 'single': 2199},
             'multi_host': {'batch': 2039, 'single': 2536},
             'retry': {'single': 167},
             'same_transaction': {'single': 211},
             'worker_race': {'single': 1090}},
     'version': {'deploy_overlap': {'differ': 2180},
                 'duplicate_run': {'same': 6864},
                 'multi_host': {'same': 2604},
                 'retry': {'same': 160},
                 'worker_race': {'same': 890}}}
)
# Calibration: (upper edge of the raw posterior, share of such answers that were right, answers)
# per kind of answer and mode family (named: writer columns; anonymous: none), on the tuning set.
CALIBRATION: dict[str, list[tuple[float, float, int]]] = (
    {'answer/anonymous': [(0.768561, 0.5179, 56), (0.936421, 0.7895, 57), (0.977524, 0.8145, 124),
                          (0.988293, 0.9691, 97), (0.997576, 0.9758, 248), (0.998146, 0.9879, 248),
                          (0.999027, 1.0, 124), (0.999493, 1.0, 124), (0.999503, 1.0, 124), (0.999972, 1.0, 124),
                          (1.0, 1.0, 168)],
     'answer/named': [(0.899487, 0.9167, 96), (0.94923, 0.9917, 242), (0.989537, 0.9959, 964),
                      (0.999325, 1.0, 2244), (0.999776, 1.0, 2244), (0.999856, 1.0, 2244), (0.999976, 1.0, 2244),
                      (0.999998, 1.0, 2244), (0.999998, 1.0, 2244), (0.999999, 1.0, 2244), (0.999999, 1.0, 2244),
                      (0.999999, 1.0, 2244), (0.999999, 1.0, 2244), (1.0, 1.0, 2244), (1.0, 1.0, 950)],
     'unknown/anonymous': [(0.794948, 0.9568, 139), (0.948824, 0.9942, 172), (0.987495, 0.9981, 539),
                           (0.999214, 1.0, 1181), (0.999885, 1.0, 1181), (0.999973, 1.0, 1181),
                           (0.999997, 1.0, 1181), (1.0, 1.0, 1181), (1.0, 1.0, 1181), (1.0, 1.0, 1181),
                           (1.0, 1.0, 1181), (1.0, 1.0, 1181), (1.0, 1.0, 1181), (1.0, 1.0, 1181),
                           (1.0, 1.0, 335)],
     'unknown/named': [(1.0, 1.0, 6)]}
)
TUNING = '42612 tuning clusters: labelled seeds 100-111, harder seeds 1000-1011 (harder.TUNING)'
# --- END MEASURED ---

# What would settle an unknown, per pair of mechanisms: options in order, each with the evidence it needs
# ("host", "process" (a process or run column), "version", "commit" (commit timestamps), "xmin", "runs"
# (--runs)). An option whose evidence the scan already had, or cannot have on this engine, is skipped
# (settling_signal): the signal never asks for what was given (a scan with host and process columns was told
# "a process column beside the host column would separate worker_race from multi_host").
JOB_LOG = ("runs", "the job's log of those minutes (--runs FILE): which run, host and process wrote each copy")
APP_LOG = "the application's own log of those writes (which task, request or message wrote each copy)"
SETTLING: dict[frozenset[str], tuple[tuple[str, str], ...]] = {
    frozenset({"multi_host", "duplicate_run"}): (("host", "a host column (--writer host=COLUMN)"), JOB_LOG),
    frozenset({"multi_host", "deploy_overlap"}): (
        ("version", "a version column (--writer version=COLUMN)"),
        ("", "the deploy history of that time (whether a release was rolling out)")),
    frozenset({"duplicate_run", "deploy_overlap"}): (
        ("version", "a version column (--writer version=COLUMN)"),
        ("", "the deploy history of that time (whether a release was rolling out)")),
    frozenset({"duplicate_run", "worker_race"}): (
        ("process", "a process or run column (--writer process=COLUMN)"), JOB_LOG),
    frozenset({"worker_race", "retry"}): (
        ("commit", "commit timestamps (track_commit_timestamp = on): overlapping transactions are a race, one "
                   "after the other a retry"),
        ("process", "a process column (--writer process=COLUMN)"), JOB_LOG),
    frozenset({"retry", "duplicate_run"}): (
        ("process", "a process id or run id column (--writer process=COLUMN)"), JOB_LOG),
    frozenset({"multi_host", "worker_race"}): (("process", "a process column beside the host column"), JOB_LOG),
    frozenset({"multi_host", "retry"}): (("host", "a host column (--writer host=COLUMN)"), JOB_LOG),
    frozenset({"same_transaction", "retry"}): (("xmin", "the transaction id (xmin, PostgreSQL)"), JOB_LOG),
    frozenset({"dst_fallback", "retry"}): (("runs", "the job log of that night (--runs FILE)"),),
}
DEFAULT_SETTLING = (("host", "a host column (--writer host=COLUMN)"),
                    ("process", "a process or run column (--writer process=COLUMN)"), JOB_LOG)


def settling_signal(first: str, second: str, have: frozenset[str] = frozenset()) -> str:
    """The first signal that would separate two mechanisms and that the scan did not already have (``have``:
    the evidence given, or impossible on this engine); the application's log when nothing else is left.

    >>> settling_signal("multi_host", "worker_race")
    "a process column beside the host column or, if the table records none, the job's log (--runs FILE)"
    >>> settling_signal("multi_host", "worker_race", frozenset({"runs"}))
    'a process column beside the host column'
    >>> settling_signal("multi_host", "worker_race", frozenset({"host", "process"}))[:16]
    "the job's log of"
    >>> settling_signal("multi_host", "worker_race", frozenset({"host", "process", "runs"}))[:27]
    "the application's own log o"
    """
    return shortlist_signal((first, second), have)[0]


def shortlist_signal(names: Sequence[str], have: frozenset[str] = frozenset()) -> tuple[str, tuple[str, str]]:
    """The signal that would settle a shortlist, and the two mechanisms it separates: the first pair of the
    shortlist, in its order, with a signal the scan did not already have; the application's log for the first
    pair when none is left. With the hosts in hand (a job log naming them) a batch shortlist asked the first
    pair, one host or two, and was told the application's log, where a version column separates the third.

    >>> shortlist_signal(["duplicate_run", "multi_host", "deploy_overlap"])[1]
    ('duplicate_run', 'multi_host')
    >>> shortlist_signal(["duplicate_run", "multi_host", "deploy_overlap"], frozenset({"host", "runs"}))
    ('a version column (--writer version=COLUMN)', ('duplicate_run', 'deploy_overlap'))
    """
    pairs = list(itertools.combinations(names, 2))
    for first, second in pairs:
        options = SETTLING.get(frozenset({first, second}), DEFAULT_SETTLING)
        found = next(((needs, text) for needs, text in options if needs not in have), None)
        if found is not None:
            needs, text = found
            if needs in ("host", "process") and JOB_LOG in options and "runs" not in have:
                # a column the table does not record cannot be added after the fact; the log often exists
                text += " or, if the table records none, the job's log (--runs FILE)"
            return text, (first, second)
    return APP_LOG, pairs[0]


def _settling(names: Sequence[str], have: frozenset[str], whole: bool) -> tuple[str, tuple[str, str]]:
    """shortlist_signal, except where whole-second timestamps pooled two hosts' copies
    (``WHOLE_SECONDS_ACROSS_HOSTS``): the column's precision is what hid the answer, so the signal names it (a
    process column beside the host column, the usual signal for that pair, is in hand there or would not part
    two schedulers from a pool of one worker on each host), and the job's log of those minutes unless it was read.

    >>> _settling(["multi_host", "worker_race"], frozenset({"host", "process"}), True)[0]
    "timestamps with sub-second precision (this column keeps whole seconds) or the job's log (--runs FILE)"
    >>> _settling(["worker_race", "multi_host"], frozenset({"host", "process", "runs"}), True)
    ('timestamps with sub-second precision (this column keeps whole seconds)', ('multi_host', 'worker_race'))
    """
    if whole and set(POOLED_WHOLE_SECONDS) <= set(names):
        text = WHOLE_SECONDS_SIGNAL + ("" if "runs" in have else " or the job's log (--runs FILE)")
        return text, POOLED_WHOLE_SECONDS
    return shortlist_signal(names, have)


def probability(feature: str, value: str, mechanism: str) -> float | None:
    """P(value | mechanism) for one observation; None when the model has no table for the feature."""
    if feature in REASONED:
        table = REASONED[feature].get(value, {})
        if mechanism in table:
            return table[mechanism]
        other = OTHERWISE.get(feature, 0.1)
        return other.get(value, 0.1) if isinstance(other, dict) else other
    counts = MEASURED.get(feature)
    if not counts:
        return None
    if feature in JOINT and sum(per.get(value, 0) for per in counts.values()) < JOINT_MIN:
        return _apart(counts, value, mechanism)
    if 0 < sum(counts.get(mechanism, {}).values()) < MIN_MEASURED:
        known = [m for m, per in counts.items() if sum(per.values()) >= MIN_MEASURED]
        if known:
            return sum(_smoothed(feature, counts, value, m) for m in known) / len(known)
    return _smoothed(feature, counts, value, mechanism)


def _smoothed(feature: str, counts: dict[str, dict[str, int]], value: str, mechanism: str) -> float:
    """P(value | mechanism) from the measured counts, add-one smoothed; on the shape features a value the
    mechanism's tuning clusters never showed gets the floor, whatever their number (smoothing gave an unseen value
    0.0047 to the 167 retries' neighbourhoods and 0.0002 to the 4,575 multi_host ones, where neither had it: the
    mechanism the generators wrote less often won +3 on every reading none of them showed).

    >>> counts = {"a": {"x": 900, "y": 100}, "b": {"x": 5, "y": 5}}
    >>> round(_smoothed("order", counts, "z", "a"), 4), round(_smoothed("order", counts, "z", "b"), 4)
    (0.01, 0.01)
    >>> round(_smoothed("txn", counts, "z", "b"), 4)  # not a shape feature: smoothed as measured
    0.0769
    """
    seen = counts.get(mechanism, {})
    values = sorted({v for per in counts.values() for v in per} | {value})
    p = (seen.get(value, 0) + SMOOTHING) / (sum(seen.values()) + SMOOTHING * len(values))
    if feature not in FLOORED:
        return p
    floor = MEASURED_FLOOR ** JOINT.get(feature, 1)
    return max(floor, p) if seen.get(value) or not seen else floor


def _apart(counts: dict[str, dict[str, int]], value: str, mechanism: str) -> float:
    """A joint value read as its readings apart: the product of each reading's measured share (each
    smoothed and floored like a feature of its own), from the joint counts with the same number of readings.

    >>> counts = {"a": {"x|1": 8, "y|2": 2}, "b": {"x|2": 5, "y|2": 5}}
    >>> round(_apart(counts, "x|2", "a"), 3), round(_apart(counts, "x|2", "b"), 3)
    (0.188, 0.458)
    """
    parts = value.split("|")
    p = 1.0
    for k, part in enumerate(parts):
        values = {v.split("|")[k] for per in counts.values() for v in per if v.count("|") == len(parts) - 1}
        values.add(part)
        seen = {v: n for v, n in counts.get(mechanism, {}).items() if v.count("|") == len(parts) - 1}
        hits = sum(n for v, n in seen.items() if v.split("|")[k] == part)
        p *= max(MEASURED_FLOOR, (hits + SMOOTHING) / (sum(seen.values()) + SMOOTHING * len(values)))
    return p


@dataclass(frozen=True)
class Verdict:
    mechanism: str                       # the answer, or "unknown"
    confidence: float                    # calibrated probability that the answer is right
    posterior: dict[str, float]          # every mechanism's posterior
    candidates: tuple[tuple[str, float], ...]  # the shortlist when unknown
    weights: dict[str, dict[str, float]]  # per observation: log P(value | m) for each mechanism
    signal: str | None = None            # what would settle an unknown
    separates: tuple[str, str] | None = None  # the two candidates the signal tells apart


def decide(observations: Iterable[Observation], mode: str, roles: set[str] | None = None,
           have: frozenset[str] = frozenset()) -> Verdict:
    """Posterior, answer (or abstention) and calibrated confidence for one cluster's observations.

    ``roles``: the writer roles the table records (None: not known, as in the tuning records, which always
    have a host column when they have writer columns). ``have``: the evidence the scan had or cannot have
    (settling_signal), so an abstention never asks for it.
    """
    obs = list(observations)
    seen = {(o.feature, o.value) for o in obs}
    whole = mode != "none" and WHOLE_SECONDS_ACROSS_HOSTS <= seen
    dropped = {f for reading in seen for f in READ_ONCE.get(reading, ())} | set(NOT_READ_WHOLE_SECONDS if whole else ())
    obs = [o for o in obs if o.feature not in dropped]
    required = {**REQUIRES, **(REQUIRES_NAMED if mode != "none" else {})}
    running = [m for m in MECHANISMS if (m not in required or required[m] in seen)
               and not seen.intersection(EXCLUDED_BY.get(m, ()))]
    scores = {m: math.log(PRIOR[m]) for m in running}
    few = next((POOLED_FEW_COLLISIONS[r] for r in sorted(seen) if r in POOLED_FEW_COLLISIONS), None)
    after_pooling = AFTER_POOLING
    if few is None and whole:
        few, after_pooling = POOLED_WHOLE_SECONDS, AFTER_WHOLE_SECONDS
    overtaken = next((POOLED_OVERTAKEN[r] for r in sorted(seen) if r in POOLED_OVERTAKEN), None)
    if few is None and overtaken is not None and not seen & NOT_POOLED_OVERTAKEN:
        few, after_pooling = overtaken, AFTER_OVERTAKEN
    late = {m: 0.0 for m in running}
    settled = False
    weights: dict[str, dict[str, float]] = {}
    for o in obs:
        row = {}
        for m in running:
            p = probability(o.feature, o.value, m)
            if p is None:
                break
            row[m] = math.log(p)
        else:
            weights[f"{o.feature}={o.value}"] = row
            after = few is not None and o.feature in after_pooling
            settled = settled or after
            for m in running:
                (late if after else scores)[m] += row[m]
    pool = tuple(m for m in few or pooled_for(mode, roles) if m in running)
    pool = pool if len(pool) > 1 else ()  # what the evidence ruled out leaves nothing to pool with
    if pool:
        pooled = list(pool)
        peak = max(scores[m] for m in pooled)
        shared = peak + math.log(sum(math.exp(scores[m] - peak) for m in pooled) / len(pooled))
        for m in pooled:
            scores[m] = shared
    for m in running:
        scores[m] += late[m]
    pool = () if settled else pool  # the job log read after the pooling parts what the table could not
    top = max(scores.values())
    exp = {m: math.exp(s - top) for m, s in scores.items()}
    total = sum(exp.values())
    posterior = {m: exp[m] / total for m in running}
    ranked = sorted(posterior.items(), key=lambda mp: -mp[1])
    family = "anonymous" if mode == "none" else "named"
    if pool:
        group = [(m, posterior[m]) for m in pool if m in posterior]
        mass = sum(p for _, p in group)
        others = [(m, p) for m, p in ranked if m not in pool]
        if mass >= others[0][1]:  # "a batch written twice" is the best reading: name the three, not one
            # and beside them, up to SHORTLIST_MAX, what else holds SHORTLIST_FROM: with a process column and no host
            # column a pool whose workers all take the oldest pending item read 0.32 worker_race against 0.34 each
            # for duplicate_run and multi_host, and the race was left off the shortlist (a review). Without writer
            # columns the three pooled fill the shortlist, but a mechanism more likely than each of them joins
            # beyond it: a webhook's retried delivery racing its first attempt read retry 41% against 15% for
            # each pooled one, and the shortlist without it was given as 95-99% (tests/test_stranger18_shortlist.py)
            group = group[:SHORTLIST_MAX]  # a pool of four keeps its first SHORTLIST_MAX (they are tied)
            floor = min(p for _, p in group)
            extra = [(m, p) for m, p in others if p >= SHORTLIST_FROM]
            extra = extra[:max(SHORTLIST_MAX - len(group), sum(p > floor for _, p in extra))]
            group = sorted(group + extra, key=lambda mp: -mp[1])
            signal, pair = _settling([m for m, _ in group], have, whole)
            return Verdict("unknown", calibrate(sum(p for _, p in group), f"unknown/{family}"), posterior,
                           tuple(group), weights, signal, pair)
        ranked = sorted([*others, ("|".join(m for m, _ in group), mass)], key=lambda mp: -mp[1])
    best, p_best = ranked[0]
    runner, p_runner = ranked[1]
    if p_best < ABSTAIN_BELOW and p_runner >= SHORTLIST_FROM:
        shortlist = tuple((m, p) for m, p in ranked[:SHORTLIST_MAX] if p >= SHORTLIST_FROM)
        mass = sum(p for _, p in shortlist)
        shortlist = tuple((name, posterior[name]) for m, _ in shortlist for name in m.split("|"))
        signal, pair = _settling([m for m, _ in shortlist], have, whole)
        return Verdict("unknown", calibrate(mass, f"unknown/{family}"), posterior, shortlist, weights, signal, pair)
    return Verdict(best, calibrate(p_best, f"answer/{family}"), posterior, (), weights)


def pooled_for(mode: str, roles: set[str] | None) -> tuple[str, ...]:
    """The mechanisms the recorded writer columns cannot tell apart, pooled into one shortlist.

    >>> pooled_for("none", None), pooled_for("explicit", {"host", "process"}), pooled_for("inferred", {"run"})
    (('duplicate_run', 'multi_host', 'deploy_overlap'), (), ('duplicate_run', 'multi_host'))
    """
    if mode == "none":
        return POOLED_WITHOUT_WRITERS
    if roles is not None and "host" not in roles:
        return POOLED_WITHOUT_HOST
    return ()


def calibrate(raw: float, kind: str) -> float:
    """The share of answers that were right on the tuning set among answers with this raw posterior (the raw
    posterior where the tuning set held fewer than MIN_BIN such answers).

    >>> calibrate(0.7, "no such kind"), calibrate(0.99, "unknown/named")
    (0.7, 0.99)
    """
    bins = CALIBRATION.get(kind)
    if not bins:
        return raw
    for edge, right, n in bins:
        if raw <= edge:
            return right if n >= MIN_BIN else raw
    edge, right, n = bins[-1]
    return right if n >= MIN_BIN else raw


def contributions(verdict: Verdict, against: str) -> list[tuple[str, float]]:
    """How much each observation moved the answer against ``against``: log P(v|answer) − log P(v|against)."""
    answer = verdict.mechanism if verdict.mechanism != "unknown" else verdict.candidates[0][0]
    moved = [(name, row[answer] - row[against]) for name, row in verdict.weights.items()]
    return sorted(moved, key=lambda nm: -abs(nm[1]))
