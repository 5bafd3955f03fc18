"""Generate data/prompts/interactive_v1.jsonl: 500 prompts for interactive interview flows.

The set is built deterministically from sentence templates and word pools with the standard
library's ``random.Random(seed)``: no network, no model. The same seed gives the same bytes.

Usage (from the repository root)::

    python data/prompts/make_prompts.py            # write the set, checking token budgets
    python data/prompts/make_prompts.py --check    # exit 1 if the committed file differs
    python data/prompts/make_prompts.py --stats    # print the README's statistics table

Writing and ``--stats`` count tokens with the embedded model's tokenizer (``make model`` builds
it), imported lazily: generating in memory and ``--check`` need only the standard library.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUT = HERE / "interactive_v1.jsonl"
DEFAULT_SEED = 20261126
DEFAULT_MODEL = REPO / "data" / "models" / "smollm2-135m-instruct"
ID_PREFIX = "iv1"
# The served model has max_model_len 2048; keep input + max_tokens under this, with headroom.
TOKEN_BUDGET = 2000

CATEGORY_COUNTS = {
    "interview_question": 95,
    "answer_feedback": 90,
    "answer_summary": 75,
    "support_chat": 90,
    "field_extraction": 80,
    "intent_classification": 70,
}
MAX_TOKENS = {
    "interview_question": (48, 64, 80, 96),
    "answer_feedback": (128, 160, 192),
    "answer_summary": (96, 128, 160),
    "support_chat": (64, 96, 128),
    "field_extraction": (64, 80, 96),
    "intent_classification": (8, 12, 16),
}

Row = dict[str, Any]
Messages = list[dict[str, str]]

# --------------------------------------------------------------------------- word pools

POOLS: dict[str, tuple[str, ...]] = {
    "product": (
        "a URL shortener",
        "an interview scheduling service",
        "a news feed",
        "a chat application",
        "a job board search",
        "a notification service",
        "a file upload service",
        "a video interview platform",
    ),
    "ratio": ("10", "20", "50", "100"),
    "lang": ("Go", "Java", "Python", "Kotlin", "TypeScript"),
    "db": ("PostgreSQL", "MySQL", "DynamoDB", "Cassandra"),
    "cache": ("Redis", "Memcached"),
    "queue": ("Kafka", "RabbitMQ", "SQS", "Pub/Sub"),
    "ttl": ("30", "60", "300"),
    "shard_key": ("user id", "tenant id", "company id", "region"),
    "latency_ms": ("100", "200", "250", "300"),
    "hours": ("2", "6", "24", "48"),
    "n_errors": ("5", "10", "20"),
    "n_users": ("500,000", "two million", "ten million", "fifty million"),
    "kb": ("5", "20", "50", "200"),
    "bundle_kb": ("850", "1,200", "2,400"),
    "rps": ("50", "100", "500", "1,000"),
    "search": ("Elasticsearch", "OpenSearch"),
    "col": ("customer_id", "user_id", "account_id", "candidate_id"),
    "ts_col": ("created_at", "event_time", "updated_at"),
    "table": ("orders", "events", "applications", "interviews"),
    "n_rows": ("40 million", "200 million", "3 billion"),
    "warehouse": ("BigQuery", "Snowflake", "Redshift"),
    "pct": ("3", "5", "12", "30", "40", "60"),
    "pct_small": ("1", "2", "5"),
    "pct_low": ("45", "52", "60"),
    "pct_high": ("78", "85", "90"),
    "minutes": ("8", "12", "15", "20", "25", "40"),
    "team_size": ("five", "six", "eight", "eleven"),
    "feature": ("bulk export", "custom reports", "dark mode", "calendar sync", "team analytics"),
    "weeks": ("two", "three", "four", "six"),
    "n_small": ("two", "three"),
    "n_large": ("seven", "nine", "all of them"),
    "n_items": ("8", "12", "15", "20", "30"),
    "component": ("availability zone", "worker pool", "database replica", "customer tenant"),
    "lib": ("the HTTP client", "the ORM", "the JSON parser", "the logging library"),
    "mb": ("40", "150", "300"),
    "pool": ("10", "20"),
    "orchestrator": ("Airflow", "Dagster", "Prefect"),
    "days": ("3", "7", "14"),
    "time": (
        "at 2:40 in the morning",
        "just after 9 a.m.",
        "late on a Friday afternoon",
        "during the Monday peak",
    ),
    "n_tz": ("three", "four", "five"),
    "name": ("Amara", "Luis", "Mei", "Tomasz", "Priya", "Jonas", "Fatima", "Kenji", "Chloé"),
}

FIRST_NAMES = (
    "Priya", "José", "Mei", "Tomasz", "Amara", "Jonas", "Fatima", "Kenji", "Chloé", "Oluwaseun",
    "Sofia", "Liam", "Aisha", "Mateo", "Hannah", "Ravi", "Zoë", "Björn", "Nadia", "Carlos",
    "Yuki", "Grace", "Ahmed", "Elena", "Kwame", "Ines", "Daniel", "Ayşe", "Marcus", "Lucía",
)  # fmt: skip
LAST_NAMES = (
    "Natarajan", "García", "Chen", "Kowalski", "Okafor", "Schmidt", "Haddad", "Tanaka", "Dubois",
    "Adeyemi", "Rossi", "O'Brien", "Khan", "Fernández", "Müller", "Patel", "Nakamura", "Murphy",
    "Yılmaz", "Andersson", "Silva", "Novak", "Mensah", "Costa", "Kim", "Nguyen", "Brown",
)  # fmt: skip
CITIES = (
    "Toronto", "Berlin", "Lagos", "Bengaluru", "São Paulo", "Austin", "Warsaw", "Manila",
    "Nairobi", "Melbourne", "Dublin", "Kraków", "Lisbon", "Seoul", "Mexico City", "Leeds",
)  # fmt: skip
COMPANIES = ("Northwind", "Contoso", "Globex", "Initech", "Umbrella Labs", "Tailspin", "Fabrikam")
LEVELS = ("junior", "mid-level", "senior", "staff", "lead", "principal")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
CLOCKS = ("9:30", "10 am", "11:15", "1 pm", "2:30 pm", "4 pm")
PRODUCT = "AcmeHire"

# role -> (skills to ask about, answer topics a candidate for the role talks about)
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "backend engineer": (
        ("API design", "caching", "database indexing", "designing a rate limiter", "concurrency"),
        ("system_design", "sql", "debugging", "testing", "security", "incident", "communication"),
    ),
    "data engineer": (
        ("SQL window functions", "pipeline idempotency", "data quality", "schema evolution"),
        ("data_pipelines", "sql", "debugging", "testing", "communication", "incident"),
    ),
    "frontend engineer": (
        ("state management", "web performance", "accessibility", "component testing"),
        ("frontend", "testing", "debugging", "communication", "security", "product"),
    ),
    "site reliability engineer": (
        ("incident response", "capacity planning", "observability", "safe rollouts"),
        ("incident", "system_design", "debugging", "security", "testing", "communication"),
    ),
    "machine learning engineer": (
        ("model evaluation", "feature drift", "serving latency", "class imbalance"),
        ("ml", "data_pipelines", "sql", "testing", "debugging", "communication"),
    ),
    "product manager": (
        ("prioritization", "metrics", "stakeholder management", "running experiments"),
        ("product", "communication", "leadership", "sql", "incident", "ml"),
    ),
    "engineering manager": (
        ("giving feedback", "hiring", "delivery under pressure", "conflict resolution"),
        ("leadership", "communication", "incident", "product", "testing", "system_design"),
    ),
    "data analyst": (
        ("SQL joins", "dashboard design", "A/B test analysis", "data cleaning"),
        ("sql", "product", "data_pipelines", "communication", "ml"),
    ),
    "QA engineer": (
        ("test strategy", "flaky tests", "test automation", "exploratory testing"),
        ("testing", "debugging", "frontend", "communication", "incident"),
    ),
    "security engineer": (
        ("threat modeling", "authentication", "secrets management", "incident handling"),
        ("security", "incident", "system_design", "debugging", "communication"),
    ),
}

# --------------------------------------------------------------------------- answer topics

QUESTIONS: dict[str, tuple[str, ...]] = {
    "system_design": (
        "How would you design {product} that has to serve {n_users} users?",
        "Walk me through the architecture of a system you built that had to scale.",
        "How would you keep {product} available when one of its dependencies is slow?",
    ),
    "sql": (
        "How would you find each customer's most recent order in SQL?",
        "A reporting query on the {table} table has become slow. What do you do?",
        "Explain how you would compute a running total per account.",
    ),
    "leadership": (
        "Tell me about a time you led a team through a difficult project.",
        "How do you handle an underperforming team member?",
        "Describe a decision you made that was unpopular with your team.",
    ),
    "debugging": (
        "Tell me about the hardest bug you have tracked down.",
        "A service fails intermittently in production. How do you approach it?",
        "How do you debug a memory leak in a long-running service?",
    ),
    "testing": (
        "How do you decide what to test and at which level?",
        "What do you do about flaky tests?",
        "How would you test a payment flow that calls an external provider?",
    ),
    "product": (
        "How would you improve interview scheduling for recruiters?",
        "Which metric would you use to judge the success of a new feature, and why?",
        "Tell me about a feature you decided not to build.",
    ),
    "data_pipelines": (
        "Describe a data pipeline you built and how you kept it reliable.",
        "How do you handle late-arriving data?",
        "How would you backfill a year of events without disrupting daily jobs?",
    ),
    "ml": (
        "How would you build a model to predict which candidates will accept an offer?",
        "How do you know a model is ready for production?",
        "Tell me about a model that performed worse in production than offline.",
    ),
    "frontend": (
        "How would you make a slow search page feel fast?",
        "How do you structure state in a large single-page application?",
        "What does accessibility mean in your day-to-day work?",
    ),
    "incident": (
        "Walk me through an incident you handled as the on-call engineer.",
        "What does a good post-mortem look like to you?",
        "How do you roll out risky changes safely?",
    ),
    "communication": (
        "Tell me about a time you had to explain a technical trade-off to non-engineers.",
        "How do you handle disagreement with a decision?",
        "How do you keep a distributed team aligned?",
    ),
    "security": (
        "How would you secure an API that exposes candidate data?",
        "How do you manage secrets across environments?",
        "Tell me about a security issue you found and fixed.",
    ),
}

SENTENCES: dict[str, tuple[str, ...]] = {
    "system_design": (
        "I would start by clarifying the read and write ratio, because for {product} I'd expect "
        "roughly {ratio} reads per write.",
        "The first version would be a stateless {lang} service behind a load balancer, with {db} "
        "as the source of truth.",
        "For hot keys I'd put {cache} in front of the database with a TTL of about {ttl} seconds, "
        "and accept that some reads are slightly stale.",
        "Writes go through a queue, {queue} in our case, so a spike in traffic doesn't take down "
        "the database.",
        "I'd shard by {shard_key}, since almost every query filters on it and it spreads the load "
        "evenly.",
        "To keep p95 latency under {latency_ms} milliseconds, I'd precompute the expensive "
        "aggregates instead of doing them on the request path.",
        "For idempotency, every request carries a client-generated key, and the service stores "
        "the result for {hours} hours.",
        "If a downstream dependency is slow, a circuit breaker trips after {n_errors} consecutive "
        "failures and we serve a degraded response.",
        "We'd need to estimate storage: about {n_users} users, each producing maybe {kb} "
        "kilobytes a day, which adds up quickly over a year.",
        "I'd replicate across two availability zones and run a failover drill every quarter, "
        "because an untested failover is not really a failover.",
        "The trade-off I'd call out is consistency: for the feed, eventual consistency is fine, "
        "but for payments it isn't.",
        "Observability matters from day one, so I'd emit request traces and build a dashboard "
        "for error rate, latency and saturation.",
        "Rate limiting would sit at the gateway, with a token bucket per API key, around {rps} "
        "requests per second by default.",
        "If I had more time, I'd move the search part to {search} and keep the primary database "
        "for transactional reads.",
    ),
    "sql": (
        "I'd use a window function, ROW_NUMBER() over a partition by {col} ordered by {ts_col} "
        "descending, and keep the first row.",
        "A LEFT JOIN here keeps customers without orders, which is what the question asks for; "
        "an inner join would silently drop them.",
        "Before optimizing, I'd look at the query plan with EXPLAIN ANALYZE to see whether it "
        "does a sequential scan on {table}.",
        "A composite index on ({col}, {ts_col}) would help, because the filter and the sort use "
        "the same columns.",
        "Null handling is the classic trap: COUNT(*) counts every row, while COUNT({col}) skips "
        "nulls.",
        "For the running total I'd write SUM(amount) OVER (PARTITION BY {col} ORDER BY {ts_col}) "
        "instead of a self-join.",
        "I'd put the deduplication in a CTE first, so the main query stays readable and can be "
        "tested on its own.",
        "HAVING filters after aggregation, so the condition on the count has to go there, not in "
        "the WHERE clause.",
        "On a table with {n_rows} rows, I'd avoid SELECT * and only pull the columns the "
        "dashboard needs.",
        "In our warehouse on {warehouse}, partitioning by day cut the scanned data by about {pct} "
        "percent.",
        "I'd double-check time zones, because {ts_col} is stored in UTC but the business reports "
        "by local day.",
        "To find gaps in a sequence I'd compare each row with LAG({col}) and keep the rows where "
        "the difference is more than one.",
        "If it still needs to be faster, a materialized view refreshed every {minutes} minutes is "
        "usually enough for reporting.",
    ),
    "leadership": (
        "When I joined, the team of {team_size} engineers had no shared on-call rotation, so the "
        "same two people handled every incident.",
        "I set up weekly one-on-ones and made the first fifteen minutes about whatever the "
        "other person wanted to talk about.",
        "There was a disagreement between {name} and a product manager about scope, and I asked "
        "both of them to write down what done meant to them.",
        "We agreed to cut {feature} from the first release, which was unpopular, but it let us "
        "ship {weeks} weeks earlier.",
        "I try to give feedback within a day or two, privately, and tied to a specific example "
        "rather than a general impression.",
        "One engineer was struggling with estimates, so we paired on breaking work into tasks of "
        "no more than two days.",
        "I measured success by the team's lead time and by how many people could deploy on "
        "their own, which went from {n_small} to {n_large}.",
        "When we were going to miss a deadline, I told stakeholders early, explained why, and "
        "gave them two options with different trade-offs.",
        "Hiring was part of it too: I rewrote our interview loop so every interviewer had a "
        "clear rubric.",
        "I delegated the migration to {name}, who had never led a project, and we met twice a "
        "week to unblock things.",
        "In hindsight I should have escalated the staffing problem a month earlier instead of "
        "trying to absorb it myself.",
        "The retro after the launch produced {n_items} action items, and we tracked each one to "
        "completion on the team board.",
        "I think my job as a lead is to make the team's priorities clear and then get out of "
        "the way.",
    ),
    "debugging": (
        "The first thing I did was reproduce it locally, which took a while because it only "
        "happened on about {pct} percent of requests.",
        "I checked the logs around the failures and noticed the errors all came from one "
        "{component}.",
        "I added structured logging with the request id, so we could follow one request across "
        "services.",
        "It turned out to be a race condition: two workers read the same job before either of "
        "them marked it as taken.",
        "I bisected the recent deployments and found that the regression came in with an "
        "upgrade of {lib}.",
        "Memory grew by about {mb} megabytes an hour, so I took heap snapshots an hour apart "
        "and compared them.",
        "The fix was small, a missing timeout on an outgoing call, but finding it took two days.",
        "I wrote a regression test that failed before the fix and passed after it, so the bug "
        "can't quietly come back.",
        "I try not to guess; I write down a hypothesis, what evidence would confirm it, and then "
        "I go and look.",
        "We also added an alert on the retry rate, which would have caught this {hours} hours "
        "earlier.",
        "The root cause was a connection pool of {pool} connections shared by far too many "
        "threads.",
        "Once we knew what it was, I wrote a short post-mortem so other teams using {lib} could "
        "check their own setups.",
    ),
    "testing": (
        "I'd structure the tests as a pyramid: lots of fast unit tests, fewer integration tests, "
        "and a handful of end-to-end tests.",
        "For the payment flow I'd mock the external provider in unit tests but run a contract "
        "test against its sandbox every night.",
        "Flaky tests are worse than no tests, so we quarantined them and fixed or deleted each "
        "one within a week.",
        "Our CI ran in about {minutes} minutes, and we kept it there by running the slow suite "
        "only on the main branch.",
        "I like property-based tests for parsers, because they find edge cases I wouldn't think "
        "to write by hand.",
        "Coverage went from {pct_low} to {pct_high} percent, but what mattered more was that "
        "every production bug got a test afterwards.",
        "For the API, every endpoint has tests for the happy path, invalid input, and "
        "authorization failures.",
        "Test data is created by factories inside each test, so tests don't depend on each other "
        "or on their order.",
        "We ran a load test before each major release, at about {rps} requests per second, to "
        "catch latency regressions.",
        "When a bug is reported, the first step is a failing test that reproduces it.",
        "I'd argue against testing private methods directly; test the behavior through the "
        "public interface instead.",
    ),
    "product": (
        "I'd start with the user problem: recruiters told us they spend about {hours} hours a "
        "week scheduling interviews.",
        "The metric I'd pick is time from application to first interview, with candidate "
        "drop-off as a guardrail.",
        "I'd run an A/B test on {pct} percent of traffic for two weeks, long enough to cover "
        "weekly patterns.",
        "Before building anything, we did {n_items} customer interviews and a quick clickable "
        "prototype.",
        "We prioritized with a simple impact and effort grid, and {feature} came out on top.",
        "The risk I'd watch is that faster scheduling leads to more no-shows, so we'd track "
        "attendance too.",
        "For the first version I'd cut the reporting features and focus on the one flow that "
        "saves the most time.",
        "Customers on the enterprise plan asked for single sign-on, which is table stakes for "
        "them, not a differentiator.",
        "I'd segment the results by company size, because small and large teams use the "
        "product very differently.",
        "The launch went to {pct_small} percent of accounts first, and we watched support ticket "
        "volume before rolling out further.",
        "If the metric didn't move after a month, I'd be willing to roll the feature back "
        "rather than keep polishing it.",
        "On pricing, I'd keep it in the existing plan at first and learn how much people use it "
        "before charging for it.",
    ),
    "data_pipelines": (
        "The pipeline ingests about {n_rows} events a day from {queue} and writes them to "
        "{warehouse} in hourly batches.",
        "We orchestrated it with {orchestrator}, one task per stage, so a failure can be retried "
        "without rerunning everything.",
        "Every job is idempotent: rerunning a day overwrites that day's partition instead of "
        "appending duplicates.",
        "Schema changes were the main source of breakage, so we added a schema registry and "
        "contract checks at ingestion.",
        "Data quality checks run after each stage: row counts, null rates, and a check that the "
        "totals match the source.",
        "Late-arriving events were a problem, so we reprocess the last {days} days every night.",
        "Backfills run on a separate queue so they don't slow down the daily jobs.",
        "We moved from a nightly full load to incremental loads on an updated_at column, which "
        "cut the runtime from hours to about {minutes} minutes.",
        "I'd keep raw data immutable and build cleaned tables on top, so we can always rebuild "
        "from the source.",
        "For personal data we hashed emails at ingestion and kept the mapping in a restricted "
        "table.",
        "Alerting was tied to freshness: if a table hadn't updated in {hours} hours, the on-call "
        "engineer got paged.",
    ),
    "ml": (
        "I'd start with a simple baseline, logistic regression on a few features, before trying "
        "anything deep.",
        "The classes were imbalanced, about {pct} percent positives, so I looked at precision and "
        "recall rather than accuracy.",
        "We split by time, not randomly, because a random split leaked future information into "
        "training.",
        "Feature drift showed up a few months after launch, so we added a weekly job comparing "
        "feature distributions.",
        "The gradient boosted model beat the baseline by about {pct_small} points of AUC, which "
        "was enough to justify the extra complexity.",
        "For serving, the model ran behind a small API with a latency budget of {latency_ms} "
        "milliseconds.",
        "I'd check calibration too, because the downstream team used the scores as probabilities.",
        "Labels were noisy, so two people annotated the same sample of examples and we measured "
        "how often they agreed.",
        "We shadow-deployed the new model for two weeks and compared its predictions with the "
        "old one before switching.",
        "Hyperparameter search helped a little, but better features helped much more.",
        "For the language model use case, we evaluated on a fixed set of prompts and had "
        "reviewers rate the answers blind.",
    ),
    "frontend": (
        "I'd keep state as close as possible to where it's used and only lift it up when two "
        "components really share it.",
        "The page was slow because it re-rendered the whole list on every keystroke, so I "
        "memoized the rows and debounced the search.",
        "Accessibility was part of the definition of done: keyboard navigation, labels, and "
        "color contrast.",
        "We split the bundle by route, which brought the initial download from {bundle_kb} "
        "kilobytes to less than half.",
        "For forms I'd validate on the client for quick feedback, but always validate again on "
        "the server.",
        "I wrote the component tests against what the user sees rather than implementation "
        "details.",
        "Images were the biggest cost, so we served them in modern formats with explicit sizes "
        "to avoid layout shifts.",
        "Error states get as much design attention as the happy path, including what happens "
        "when the network drops.",
        "We measured real-user performance and set a budget for the largest contentful paint.",
        "The design system gave us consistent buttons and inputs, and it saved a lot of review "
        "time.",
    ),
    "incident": (
        "The alert fired {time}, the error rate was around {pct} percent, and I was the on-call "
        "engineer that week.",
        "My first step was to declare an incident in the channel and assign roles: one person "
        "fixing, one person communicating.",
        "We rolled back the last deployment within {minutes} minutes, which stopped the errors "
        "but didn't explain them.",
        "Customers were updated through the status page every thirty minutes until it was "
        "resolved.",
        "The post-mortem was blameless; we focused on why the safeguards didn't catch the bad "
        "configuration.",
        "We added a canary stage, so a new version gets {pct_small} percent of traffic for "
        "fifteen minutes before the full rollout.",
        "The database failover took longer than expected because the connection strings pointed "
        "at a specific host.",
        "One lesson was that our runbook was out of date, so now we review it after every "
        "incident.",
        "Total impact was about {minutes} minutes of degraded service for roughly {pct_small} "
        "percent of users.",
        "I think the most important thing during an incident is to stay calm and keep a written "
        "timeline.",
    ),
    "communication": (
        "I explained the trade-off to the sales team without jargon: we could have the feature "
        "in {weeks} weeks, or the reliability work, not both.",
        "I wrote a one-page proposal, shared it early, and changed it a lot based on the comments.",
        "When I disagree with a decision, I say so once, clearly, with data, and then I commit to "
        "whatever we decide.",
        "With a remote team across {n_tz} time zones, we relied on written updates more than on "
        "meetings.",
        "A customer was very unhappy about an outage, so I joined the call with our account "
        "manager and walked them through what happened.",
        "I adapt the level of detail to the audience: executives get the decision and the risk, "
        "engineers get the details.",
        "I asked for feedback on my presentations and learned that I tended to bury the "
        "conclusion at the end.",
        "Conflict usually comes from different information, so I try to get everyone looking at "
        "the same facts first.",
        "I mentored two interns last summer, and both of them shipped a feature to production.",
        "I document decisions in short records, so someone joining later understands why we "
        "chose what we chose.",
    ),
    "security": (
        "Secrets live in a vault and are injected at runtime; nothing sensitive goes into the "
        "repository.",
        "Every service runs with least privilege, with its own role that can only touch the "
        "tables it needs.",
        "We ran dependency scanning in CI and fixed critical vulnerabilities within {days} days.",
        "For authentication I'd use short-lived access tokens, with refresh tokens in http-only "
        "cookies.",
        "All input is validated on the server, and queries are parameterized to prevent SQL "
        "injection.",
        "We encrypted personal data at rest and in transit, and logged every access to candidate "
        "records.",
        "I'd do threat modeling at design time, which is much cheaper than fixing issues after "
        "launch.",
        "A penetration test found an insecure direct object reference, which we fixed by "
        "checking ownership on every request.",
        "Rate limits and account lockouts protect the login endpoint from credential stuffing.",
        "Audit logs go to a separate account that engineers can't modify.",
    ),
}

WEAK_ANSWERS = (
    "I would just add more servers if it gets slow.",
    "I'm not sure, I haven't really worked with that.",
    "I think I'd use a cache. Caches make things faster.",
    "I'd look it up and figure it out when it happens.",
    "We didn't really have tests on my last project, so I'd probably write some at the end.",
    "I'd tell my manager and let them decide.",
    "I'd add an index. That usually fixes it.",
    "Honestly I'd just restart the service and see if it comes back.",
)
OPENERS = ("", "", "", "So, ", "Sure. ", "Okay, so ", "Good question. ", "Let me think. ")
CONNECTORS = ("Also, ", "On top of that, ", "In practice, ", "And ", "Besides that, ")
TRANSITIONS = (
    "There's a related part to this as well.",
    "That connects to another thing I learned on the same project.",
    "Let me add some context from that time.",
    "Something else comes up here too.",
    "One more angle, if that's useful.",
)
CLOSERS = (
    "That's roughly how I'd approach it.",
    "I'm happy to go deeper on any part of that.",
    "Looking back, I'd do most of it the same way.",
    "I hope that answers the question.",
)

# --------------------------------------------------------------------------- text builders

_FORMATTER = string.Formatter()


def _fill(rng: random.Random, template: str, **fixed: str) -> str:
    """Fill each ``{slot}`` of ``template`` from ``fixed`` or a random pick from ``POOLS``."""
    values: dict[str, str] = {}
    for _, field, _, _ in _FORMATTER.parse(template):
        if field and field not in values:
            values[field] = fixed[field] if field in fixed else rng.choice(POOLS[field])
    return template.format(**values)


def _join(connector: str, sentence: str) -> str:
    """Prefix ``connector``, lower-casing the sentence's first letter unless it is "I" or a name."""
    if not connector or " also " in sentence:
        return sentence
    if connector.endswith((". ", "! ")):
        return connector + sentence
    first = sentence.split(" ", 1)[0]
    if first not in ("I", "I'd", "I'm") and (first[1:].islower() or len(first) == 1):
        sentence = sentence[0].lower() + sentence[1:]
    return connector + sentence


def _speech(
    rng: random.Random,
    topics: Sequence[str],
    target_chars: int,
    used: set[str] | None = None,
    fixed: dict[str, str] | None = None,
) -> str:
    """A candidate's spoken answer of about ``target_chars``, from ``topics`` in turn.

    Each topic contributes about four in five of its sentences, in the order they are written
    (which tells a story: context, action, result, lesson), a few per paragraph. A new topic
    starts a new paragraph with a transition. Templates in ``used`` are skipped, and the ones
    taken are added to it, so the answers of one transcript do not repeat each other.
    ``fixed`` pins slots (the product under discussion) to what the question said.
    """
    used = set() if used is None else used
    paragraphs: list[list[str]] = []
    size, fresh_topic = 0, 0
    while size < target_chars:
        for topic in topics:
            pool = [t for t in SENTENCES[topic] if t not in used and rng.random() < 0.8]
            if not pool:
                continue
            fresh_topic += 1
            para = [rng.choice(TRANSITIONS)] if paragraphs else []
            paragraphs.append(para)
            for template in pool:
                used.add(template)
                sentence = _fill(rng, template, **(fixed or {}))
                if len(para) >= rng.randint(3, 6):
                    para = []
                    paragraphs.append(para)
                connector = rng.choice(CONNECTORS) if para and rng.random() < 0.25 else ""
                para.append(_join(connector, sentence))
                size += len(para[-1]) + 1
                if size >= target_chars:
                    break
            if size >= target_chars:
                break
        if not fresh_topic:  # every template of these topics used: start over, slots still vary
            used.clear()
        fresh_topic = 0
    paragraphs[0][0] = _join(rng.choice(OPENERS), paragraphs[0][0])
    if target_chars > 400:
        paragraphs[-1].append(rng.choice(CLOSERS))
    return "\n\n".join(" ".join(p) for p in paragraphs)


def _answer(
    rng: random.Random,
    role: str,
    topic: str,
    target_chars: int,
    used: set[str] | None = None,
    fixed: dict[str, str] | None = None,
) -> str:
    """An answer about ``topic`` that spills into the role's other topics when it is long."""
    others = [t for t in ROLES[role][1] if t != topic]
    rng.shuffle(others)
    return _speech(rng, [topic, *others], target_chars, used, fixed)


def _scene(rng: random.Random) -> dict[str, str]:
    """Slots a question and its answer must agree on."""
    return {slot: rng.choice(POOLS[slot]) for slot in ("product", "table", "n_users")}


def _person(rng: random.Random) -> dict[str, str]:
    """A random candidate: name, ASCII email at a reserved example domain, city, role, years."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
    local = ascii_name.decode().lower().replace("'", "")
    domain = rng.choice(("example.com", "example.org", "example.net"))
    return {
        "first": first,
        "name": f"{first} {last}",
        "email": f"{local}@{domain}",
        "city": rng.choice(CITIES),
        "role": rng.choice(list(ROLES)),
        "level": rng.choice(LEVELS),
        "years": str(rng.randint(2, 18)),
        "company": rng.choice(COMPANIES),
        "phone": f"+1 555 01{rng.randint(0, 99):02d}",
    }


def _msgs(system: str | None, *turns: str) -> Messages:
    """Messages from an optional system prompt and turns alternating user, assistant, ..., user."""
    out = [{"role": "system", "content": system}] if system else []
    roles = ("user", "assistant")
    out += [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]
    return out


# --------------------------------------------------------------------------- categories

INTERVIEWER_SYSTEMS = (
    "You are an experienced interviewer. Write clear, fair interview questions.",
    "You help hiring teams prepare interviews. Reply with the question only, no preamble.",
    f"You are {PRODUCT}'s interview assistant. Questions must be specific, open-ended and "
    "answerable in under ten minutes. Never ask about age, family, religion or health.",
)
QUESTION_KINDS = ("behavioral", "technical", "situational", "open-ended", "scenario-based")
ONE_LINERS = (
    "Write one interview question for a {level} {role} about {skill}.",
    "Give me a {kind} interview question for a {level} {role}, focused on {skill}.",
    "Suggest one question to ask a {level} {role} candidate about {skill}.",
    "I'm interviewing a {level} {role} tomorrow. What's a good question about {skill}?",
    "One {kind} question for a {level} {role}, topic: {skill}. Return only the question.",
)
CONSTRAINTS = (
    "It should not require writing code.",
    "Make it something a strong candidate can answer in about five minutes.",
    "Avoid questions that can be answered with yes or no.",
    "Include one follow-up question the interviewer can ask.",
    "Keep it under forty words.",
    "Base it on a realistic situation from a company of about 200 people.",
)
FOLLOW_UPS = (
    "Make it harder and more specific to {skill}.",
    "That's too generic. Can you tie it to a real incident or project?",
    "Good. Now give me a follow-up question that digs deeper.",
    "Rewrite it for a {level} candidate instead.",
    "Can you make it {kind} instead?",
)


JD_VERBS = ("Own", "Improve", "Shape", "Lead our work on", "Raise the bar for")
JD_ASKS = (
    "clear writing: most of our decisions start as a short document",
    "comfort with ambiguity in a company that is still finding its process",
    "a habit of measuring before and after a change",
    "experience mentoring others or a wish to start",
    "patience with legacy code and a plan to leave it better",
    "curiosity about how hiring teams actually work",
)


def _job_description(rng: random.Random, role: str, level: str) -> str:
    """A short job ad: who is hiring, what the role does, and what is asked for."""
    skills = ROLES[role][0]
    lines = [
        f"{rng.choice(COMPANIES)} is hiring a {level} {role} to join a team of "
        f"{rng.choice(POOLS['team_size'])} in {rng.choice(CITIES)} (hybrid, two days a week in "
        "the office).",
        "",
        "What you will do:",
    ]
    for skill in rng.sample(skills, rng.randint(2, len(skills))):
        lines.append(f"- {rng.choice(JD_VERBS)} {skill}.")
    lines += ["", "What we look for:", f"- {rng.randint(2, 10)}+ years as a {role}."]
    lines += [f"- {ask.capitalize()}." for ask in rng.sample(JD_ASKS, rng.randint(1, 4))]
    return "\n".join(lines)


def interview_question(rng: random.Random) -> Messages:
    """Ask for an interview question: one line, with constraints, a job ad, or a revision."""
    role = rng.choice(list(ROLES))
    vals = {
        "role": role,
        "level": rng.choice(LEVELS),
        "skill": rng.choice(ROLES[role][0]),
        "kind": rng.choice(QUESTION_KINDS),
    }
    ask = rng.choice(ONE_LINERS).format(**vals)
    style = rng.random()
    if style < 0.35:  # one line, no system prompt
        return _msgs(None, ask)
    system = rng.choice(INTERVIEWER_SYSTEMS)
    if style < 0.6:
        extra = " ".join(rng.sample(CONSTRAINTS, rng.randint(1, 3)))
        return _msgs(system if rng.random() < 0.7 else None, f"{ask} {extra}")
    if style < 0.8:
        jd = _job_description(rng, role, vals["level"])
        return _msgs(
            system,
            f"Job description:\n{jd}\n\nBased on this job description, write one {vals['kind']} "
            f"interview question that tests {vals['skill']}. {rng.choice(CONSTRAINTS)}",
        )
    topic = rng.choice(ROLES[role][1])
    earlier = _fill(rng, rng.choice(QUESTIONS[topic]))
    follow = rng.choice(FOLLOW_UPS).format(**{**vals, "level": rng.choice(LEVELS)})
    return _msgs(system, ask, earlier, follow)


FEEDBACK_SYSTEMS = (
    "You are an interview coach. Be specific, kind and honest.",
    "You review candidate answers for a hiring committee. Judge only what was said, not how it "
    "was phrased, and never guess the candidate's background.",
    "You are an interview coach. Score answers with this rubric: 1 = off-topic or wrong; 2 = "
    "partly relevant, major gaps; 3 = correct but generic; 4 = correct, specific, with "
    "trade-offs; 5 = excellent, with measured results and lessons learned. Explain the score "
    "in plain language.",
)
FEEDBACK_ASKS = (
    "Give feedback in three parts: strengths, gaps, and one concrete suggestion. End with a "
    "score from 1 to 5.",
    "What did the candidate do well, and what is missing? Keep it under 120 words.",
    "Write feedback the candidate could read: two strengths, two improvements.",
    "Rate the answer from 1 to 5 and justify the rating in a few sentences.",
)


def _answer_length(rng: random.Random) -> int:
    """Characters of a candidate answer for feedback: many medium, some short, some long."""
    draw = rng.random()
    if draw < 0.15:
        return 0  # a weak one-liner
    if draw < 0.55:
        return rng.randint(250, 1200)
    if draw < 0.88:
        return rng.randint(1200, 2600)
    return rng.randint(2600, 4200)


def answer_feedback(rng: random.Random) -> Messages:
    """Ask for feedback on a candidate answer, from a weak one-liner to a long ramble."""
    role = rng.choice(list(ROLES))
    topic, scene = rng.choice(ROLES[role][1]), _scene(rng)
    question = _fill(rng, rng.choice(QUESTIONS[topic]), **scene)
    target = _answer_length(rng)
    text = (
        rng.choice(WEAK_ANSWERS) if target == 0 else _answer(rng, role, topic, target, None, scene)
    )
    level = rng.choice(LEVELS)
    user = (
        f"Role: {level} {role}\nQuestion: {question}\n\nCandidate answer:\n{text}\n\n"
        f"{rng.choice(FEEDBACK_ASKS)}"
    )
    return _msgs(rng.choice(FEEDBACK_SYSTEMS) if rng.random() < 0.6 else None, user)


SUMMARY_SYSTEMS = (
    "You write concise, neutral interview summaries for hiring committees.",
    "Summarize interviews factually. Do not invent details, do not judge the candidate's "
    "personality, and quote numbers exactly as the candidate said them.",
)
SUMMARY_ASKS = (
    "Summarize this interview for the hiring committee in four to six bullet points.",
    "Write a three-sentence summary of the candidate's answers.",
    "Summarize the candidate's main points, then list anything the interviewer should "
    "follow up on.",
    "Give a short summary: the key claims, the evidence given, and open questions.",
)


def answer_summary(rng: random.Random) -> Messages:
    """Ask for a summary of one long answer or of a transcript (up to about 1,500 tokens)."""
    role = rng.choice(list(ROLES))
    topics = list(ROLES[role][1])
    rng.shuffle(topics)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    header = f"Candidate: {name}\nRole: {rng.choice(LEVELS)} {role}\n"
    if rng.random() < 0.3:  # one long answer
        scene = _scene(rng)
        question = _fill(rng, rng.choice(QUESTIONS[topics[0]]), **scene)
        answer = _speech(rng, topics, rng.randint(700, 3400), None, scene)
        body = f"Question: {question}\n\nAnswer:\n{answer}"
        ask = "Summarize the candidate's answer in three to five sentences."
    else:  # a transcript of several questions; these carry the longest inputs
        target, parts, size, i = rng.randint(1400, 6000), [], 0, 0
        asked = {t: rng.sample(QUESTIONS[t], len(QUESTIONS[t])) for t in topics}
        used: set[str] = set()
        while size < target:
            topic = topics[i % len(topics)]
            scene = _scene(rng)
            question = _fill(rng, asked[topic][i // len(topics) % len(asked[topic])], **scene)
            length = min(rng.randint(300, 1100), target - size + 100)
            answer = _answer(rng, role, topic, length, used, scene)
            parts.append(f"Interviewer: {question}\n{name.split()[0]}: {answer}")
            size += len(parts[-1])
            i += 1
        body = "Transcript:\n\n" + "\n\n".join(parts)
        ask = rng.choice(SUMMARY_ASKS)
    system = rng.choice(SUMMARY_SYSTEMS) if rng.random() < 0.7 else None
    return _msgs(system, f"{ask}\n\n{header}\n{body}")


SUPPORT_SYSTEMS = (
    f"You are the support assistant for {PRODUCT}, an interview scheduling and assessment "
    "platform. Answer briefly and give exact menu paths. If you are not sure, offer to hand "
    "over to a human agent.",
    f"You are {PRODUCT} Support. Be friendly and concise. Never ask for passwords. Plans: Starter "
    "(up to 3 interviewers), Team (per seat, monthly), Enterprise (SSO, audit logs, annual).",
)
# A script: user, assistant, user, assistant, user, assistant, then the closing user turns.
# An entry is shared text or an (A, B) pair; one conversation follows one branch throughout.
# The last entry is (A's closing turns, B's closing turns), one of which ends the chat.
Script = tuple[Any, ...]


def _both(*options: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The same closing turns for both branches."""
    return options, options


SUPPORT_SCRIPTS: dict[str, Script] = {
    "reschedule": (
        (
            "I need to move an interview that's scheduled for {day} at {clock}. The candidate "
            "can't make it.",
            "how do i reschedule an interview? candidate asked for another day",
        ),
        "Sure. Open the interview from the Schedule tab, click Reschedule and pick a new slot; "
        "the candidate gets an updated invite automatically.",
        ("I don't see a Reschedule button, only Cancel.", "There's no Reschedule option for me."),
        "The Reschedule button only appears for interviews you organized. If a colleague set it "
        "up, they or a workspace admin can move it. Who created this interview?",
        (
            "My colleague {first} created it, but they're on vacation until {day}.",
            "It was {first}, and they're out this week.",
        ),
        "In that case a workspace admin can reschedule it from Admin > Interviews. Do you know "
        "who the admins on your account are?",
        _both(
            "I think I'm an admin actually. Where exactly is that menu?",
            "Can you just move it for me to {day} at {clock}?",
            "Will the candidate be told who changed the time?",
        ),
    ),
    "calendar": (
        (
            "My Google Calendar stopped syncing with {product_name} yesterday. New interviews "
            "aren't showing up.",
            "Outlook sync is broken, none of this week's interviews are in my calendar",
        ),
        "Sorry about that. Sync usually stops when the connection token expires. Go to Settings "
        "> Integrations, disconnect your calendar and connect it again.",
        ("I did that and now it says 'permission denied'.", "Tried that, same problem."),
        (
            "That means your company's IT admin restricts third-party apps. They need to allow "
            "{product_name} in your calendar admin console. I can send instructions for them.",
            "Then your IT admin may be blocking third-party apps. They need to allow "
            "{product_name} in your calendar admin console; I can email you the steps.",
        ),
        (
            "Yes please. Will the interviews from the last two days show up after that?",
            "OK, I'll ask IT. Anything else they need?",
        ),
        (
            "Once it's reconnected we sync the last 30 days and all future interviews, usually "
            "within ten minutes.",
            "Only those steps. Once it's reconnected, we sync the last 30 days and all future "
            "interviews within about ten minutes.",
        ),
        _both(
            "It's been an hour since IT fixed it and they still aren't there.",
            "Great. What should I tell candidates in the meantime?",
            "Does this affect interviews my teammates scheduled for me?",
        ),
    ),
    "billing": (
        (
            "We were charged twice this month for our Team plan. Invoices {invoice} and "
            "{invoice2}.",
            "why is our invoice higher than last month?",
        ),
        (
            "I'm sorry about that. I can see both invoices; the second one is a duplicate charge "
            "from a failed card retry.",
            "Your seat count went up mid-month, so the invoice includes a pro-rated charge for "
            "the new seats.",
        ),
        ("Can you refund it?", "We didn't add anyone though."),
        (
            "I've asked our billing team to refund the duplicate; you'll get a confirmation email "
            "within one business day.",
            "Seats are added whenever someone accepts an interviewer invite. I can list who "
            "joined this month.",
        ),
        ("Thanks. Do I need to do anything else?", "Yes, please list them."),
        (
            "Nothing else is needed. If the refund doesn't arrive, reply to the confirmation "
            "email.",
            "{first} and two others joined, on the 4th and the 12th. You can remove seats in "
            "Admin > Members.",
        ),
        (
            (
                "How long will the refund take to show up on our card?",
                "Can we switch to annual billing to avoid this?",
                "Will next month's invoice be correct?",
            ),
            (
                "If I remove them now, is the charge reversed?",
                "Can we switch to annual billing?",
                "Can we make it so only admins can invite interviewers?",
            ),
        ),
    ),
    "seats": (
        (
            "How do I add three more interviewers to our account?",
            "I need to give {first} access so they can leave interview feedback.",
        ),
        "Go to Admin > Members > Invite, enter the email addresses and choose the Interviewer "
        "role.",
        ("Will that increase our bill?", "Done. Can they see every open role?"),
        (
            "On the Team plan each interviewer is a paid seat, pro-rated for the rest of the "
            "month.",
            "By default interviewers only see the roles they are assigned to.",
        ),
        (
            "OK. Can they have access only to the engineering roles?",
            "Can someone be a hiring manager for one role and an interviewer for another?",
        ),
        (
            "Yes: add them to the Engineering team and set their role to Interviewer. "
            "Permissions are per team.",
            "Yes, permissions are per team: make them Hiring Manager in one team and "
            "Interviewer in the other.",
        ),
        _both(
            "And if I remove someone later, do we lose their feedback?",
            "Is there a way to do this in bulk with a CSV?",
            "What happens to interviews already assigned to them?",
        ),
    ),
    "video": (
        (
            "The candidate says the video interview link shows a black screen.",
            "video call won't start, stuck on 'connecting'",
        ),
        "Thanks for flagging it. Which browser is the candidate using? Video works in current "
        "Chrome, Edge, Firefox and Safari.",
        ("They're on Safari on an iPad.", "Chrome, I think. It worked for the previous candidate."),
        "Please ask them to allow camera access for the site and reload the page. Some corporate "
        "networks also block video; a phone hotspot is a quick test.",
        (
            "They allowed the camera, still black.",
            "Reloaded, still connecting. The interview starts in five minutes!",
        ),
        "If it doesn't work in the next minute, use the dial-in number in the invite so the "
        "interview can start, and we'll investigate the video afterwards.",
        _both(
            "Can I switch this interview to a phone call without sending a new invite?",
            "Will the recording still work if they dial in?",
            "Can you look at the logs for interview {ref}?",
        ),
    ),
    "export": (
        (
            "How can I export all feedback for the {role} role to a spreadsheet?",
            "need a csv of all candidates in the pipeline for a report",
        ),
        (
            "Open the role, go to Reports > Feedback and click Export. You'll get a CSV with one "
            "row per scorecard.",
            "Go to Candidates, set the filters you need, and click Export CSV at the top right. "
            "You get one row per candidate.",
        ),
        (
            "The export only has scores, not the written comments.",
            "Can I include candidates who were rejected?",
        ),
        (
            "Written comments are included when you tick 'Include notes' before exporting.",
            "Yes: set the status filter to All before exporting. By default only active "
            "candidates are included.",
        ),
        ("Got it. Can I schedule this export every week?", "Is there a limit on rows?"),
        (
            "Scheduled exports are available on the Enterprise plan under Reports > Schedules.",
            "A single export holds up to 50,000 rows; larger pipelines can be split by date.",
        ),
        _both(
            "Is there an API we could use instead?",
            "Can the export go straight to Google Sheets?",
            "Why are some dates in the export a day off?",
        ),
    ),
    "deletion": (
        (
            "A candidate asked us to delete all their data. How do we do that?",
            "We got a GDPR erasure request from a candidate, what's the process?",
        ),
        "An admin can open the candidate's profile, choose More > Delete candidate, and confirm. "
        "It removes their profile, CV, recordings and feedback.",
        ("Is it deleted immediately?", "What if the candidate applied to several roles?"),
        (
            "The profile disappears immediately; backups are purged within 30 days.",
            "Deleting the candidate removes them from every role at once.",
        ),
        (
            "Can we keep an anonymized record for our hiring statistics?",
            "Do we get a confirmation we can send to the candidate?",
        ),
        (
            "Yes: aggregate reports keep anonymized counts, and the audit log records that a "
            "deletion happened, without personal data.",
            "Yes. The audit log records that the deletion happened, without personal data, and "
            "you can download that entry as a confirmation.",
        ),
        _both(
            "Who on our side can see that audit log?",
            "Can I delete several candidates at once?",
            "What about emails we sent them through {product_name}?",
        ),
    ),
    "login": (
        (
            "I can't log in, it keeps sending me back to the login page after SSO.",
            "Getting 'account not found' when I sign in with Okta",
        ),
        "Sorry about that. Does it happen in a private browser window too? That rules out an old "
        "session cookie.",
        ("Same thing in a private window.", "Yes, same error in a private window."),
        "Then it's probably the SSO mapping: your email in the identity provider must match your "
        "{product_name} email exactly. What email do you sign in with?",
        (
            "It's {email}. We changed our domain last month.",
            "I use {email}, nothing changed on my side.",
        ),
        (
            "That explains it. An admin can update your email in Admin > Members, or add the new "
            "domain under Admin > Security > SSO.",
            "Your account here uses a different address, so an admin needs to update it in "
            "Admin > Members.",
        ),
        _both(
            "I'm the only admin and I'm locked out. What now?",
            "Will I lose my scheduled interviews if my email changes?",
            "Can you make the change for me?",
        ),
    ),
    "api": (
        (
            "Our integration is getting HTTP 429 errors from your API.",
            "the candidates endpoint is returning 429 too many requests since this morning",
        ),
        "429 means the rate limit was reached: 10 requests per second per API key on the Team "
        "plan. Are you syncing many records at once?",
        (
            "Yes, we sync all candidates every hour, about 20,000 of them.",
            "We run a nightly job that updates every application.",
        ),
        "For bulk syncs, use the updated_since parameter so you only fetch records that changed, "
        "and back off using the Retry-After header.",
        ("Is there a webhook instead of polling?", "Can you raise our limit?"),
        (
            "Yes, webhooks for candidate and interview changes are under Settings > Webhooks.",
            "Limits can be raised on the Enterprise plan. On Team, webhooks under Settings > "
            "Webhooks usually remove the need for bulk polling.",
        ),
        (
            (
                "Do webhooks retry if our endpoint is down?",
                "How do we verify the webhook signature?",
                "Which events do we need for stage changes?",
            ),
            (
                "What does Enterprise cost for a team of 40?",
                "Do webhooks retry if our endpoint is down?",
                "How do we verify the webhook signature?",
            ),
        ),
    ),
}
GREETINGS = ("", "", "Hi, ", "Hello! ", "Hey, ", "Good morning. ")


def support_chat(rng: random.Random) -> Messages:
    """The next turn of a support chat: one to three earlier exchanges, then the user."""
    script = SUPPORT_SCRIPTS[rng.choice(list(SUPPORT_SCRIPTS))]
    branch, exchanges = rng.randrange(2), rng.randint(1, 3)
    slots = {
        "day": rng.choice(DAYS),
        "clock": rng.choice(CLOCKS),
        "first": rng.choice(FIRST_NAMES),
        "email": _person(rng)["email"],
        "role": rng.choice(list(ROLES)),
        "invoice": f"INV-{rng.randint(10000, 99999)}",
        "invoice2": f"INV-{rng.randint(10000, 99999)}",
        "ref": str(rng.randint(100000, 999999)),
        "product_name": PRODUCT,
    }
    turns = [e if isinstance(e, str) else e[branch] for e in script[: 2 * exchanges + 1]]
    if exchanges == 3:
        turns[-1] = rng.choice(turns[-1])
    greeting = rng.choice(GREETINGS)
    first = turns[0][0].upper() if greeting.endswith((". ", "! ")) else turns[0][0]
    turns[0] = greeting + first + turns[0][1:]
    system = rng.choice(SUPPORT_SYSTEMS) if rng.random() < 0.8 else None
    return _msgs(system, *(t.format(**slots) for t in turns))


EXTRACT_FIELDS = (
    ("name", "email", "role", "years_experience", "location"),
    ("name", "email", "phone", "location"),
    ("name", "role", "seniority", "years_experience", "current_company"),
    ("name", "email", "role", "years_experience", "location", "skills"),
)
EXTRACT_SYSTEMS = (
    "You extract structured data from text. Reply with JSON only.",
    "Return a single JSON object. Use null for fields that are not in the text. Do not guess.",
)


def _candidate_text(rng: random.Random, p: dict[str, str]) -> str:
    """A short text about one person, in one of several everyday formats, some fields missing."""
    skill = rng.choice(ROLES[p["role"]][0])
    shape = rng.randrange(6)
    if shape == 0:
        return (
            f"Hi, I'm {p['name']}. I've been a {p['role']} for {p['years']} years and I'm "
            f"currently in {p['city']}. You can reach me at {p['email']}."
        )
    if shape == 1:
        return (
            f"Spoke with {p['name']} today ({p['email']}). {p['level'].capitalize()} "
            f"{p['role']} based in {p['city']}, about {p['years']} years of experience, mostly "
            f"working on {skill}. Open to remote roles."
        )
    if shape == 2:
        return (
            f"Thanks for getting back to me, happy to chat next week.\n\nBest,\n{p['name']}\n"
            f"{p['level'].capitalize()} {p['role']} | {p['company']}\n{p['city']}\n"
            f"{p['email']} | {p['phone']}"
        )
    if shape == 3:
        return (
            f"{p['name'].upper()}\n{p['email']} · {p['phone']} · {p['city']}\n\nSummary: "
            f"{p['role']} with {p['years']}+ years of experience in {skill}."
        )
    if shape == 4:
        return (
            f"hey, {p['first']} here, {p['years']} yrs as a {p['role']}, at {p['company']} "
            f"right now. best way to reach me is {p['email']}"
        )
    topic = rng.choice(ROLES[p["role"]][1])
    story = " ".join(_fill(rng, s) for s in rng.sample(SENTENCES[topic], rng.randint(2, 4)))
    return (
        f"Dear hiring team,\n\nI'm applying for the {p['role']} opening. I have spent the last "
        f"{p['years']} years at {p['company']} working on {skill}. {story}\n\nI'm based in "
        f"{p['city']} and can start in {rng.choice(('two weeks', 'a month', 'six weeks'))}.\n\n"
        f"Kind regards,\n{p['name']}"
    )


def field_extraction(rng: random.Random) -> Messages:
    """Ask for named fields from a short text about a person, as JSON."""
    fields = rng.choice(EXTRACT_FIELDS)
    text = _candidate_text(rng, _person(rng))
    ask = (
        f"Extract these fields from the text below and reply with JSON with exactly these "
        f"keys: {', '.join(fields)}. Use null for anything missing."
    )
    if "years_experience" in fields:
        ask += " years_experience must be a number."
    return _msgs(
        rng.choice(EXTRACT_SYSTEMS) if rng.random() < 0.5 else None, f"{ask}\n\nText:\n{text}"
    )


INTENT_MESSAGES: dict[str, tuple[str, ...]] = {
    "schedule_interview": (
        "Can we set up a call with {first} for the {role} role next week?",
        "please book a 45 minute interview with the candidate on {day}",
        "I'd like to schedule the final round for {first}, any time {day} afternoon works.",
    ),
    "reschedule_interview": (
        "Something came up, can we move my interview to {day}?",
        "need to push the {clock} interview by an hour",
        "Hi, I'm so sorry, but I have a conflict on {day}. Would it be possible to find another "
        "slot later in the week? I'm flexible in the mornings.",
    ),
    "cancel_interview": (
        "Please cancel my interview, I've accepted another offer.",
        "cancel the {clock} with {first}, the role was closed",
    ),
    "billing_question": (
        "Why were we charged twice this month?",
        "Can I get a copy of invoice INV-{n}?",
        "How much does it cost to add another interviewer seat?",
    ),
    "technical_issue": (
        "The video link just shows a black screen.",
        "I keep getting an error when I upload my CV, it says the file is invalid but it's a "
        "normal PDF.",
        "page won't load after login, tried two browsers",
    ),
    "account_access": (
        "I can't log in, the reset email never arrives.",
        "How do I get access to the hiring team workspace?",
        "I was removed from the account by mistake, can you add me back?",
    ),
    "feedback_request": (
        "Could you tell me why I wasn't selected? Any feedback would help me improve.",
        "Is there any feedback from the interview panel on {day}?",
    ),
    "data_deletion": (
        "Please delete all the data you have about me.",
        "Under GDPR I'm asking you to erase my application and recordings.",
    ),
    "other": (
        "Do you have an office in {city}?",
        "Thanks, that's all for now!",
        "What does {product_name} stand for?",
    ),
}
INTENT_SYSTEMS = (
    "You classify messages for a hiring platform's inbox. Reply with exactly one label.",
    "Classify the user's message. Answer with the label only, lowercase, no punctuation.",
)


def intent_classification(rng: random.Random) -> Messages:
    """Ask for the intent label of one inbox message, the labels listed."""
    intents = list(INTENT_MESSAGES)
    intent = rng.choice(intents)
    slots = {
        "first": rng.choice(FIRST_NAMES),
        "role": rng.choice(list(ROLES)),
        "day": rng.choice(DAYS),
        "clock": rng.choice(CLOCKS),
        "city": rng.choice(CITIES),
        "n": str(rng.randint(10000, 99999)),
        "product_name": PRODUCT,
    }
    message = rng.choice(INTENT_MESSAGES[intent]).format(**slots)
    shown = intents if rng.random() < 0.6 else sorted(intents)
    labels = ", ".join(shown)
    if rng.random() < 0.5:
        system = f"{rng.choice(INTENT_SYSTEMS)} Labels: {labels}."
        return _msgs(system, message)
    return _msgs(
        None,
        f"Classify this message into one of: {labels}. Reply with the label only.\n\n"
        f"Message: {message}",
    )


BUILDERS: dict[str, Callable[[random.Random], Messages]] = {
    "interview_question": interview_question,
    "answer_feedback": answer_feedback,
    "answer_summary": answer_summary,
    "support_chat": support_chat,
    "field_extraction": field_extraction,
    "intent_classification": intent_classification,
}

# --------------------------------------------------------------------------- the set


def generate(seed: int = DEFAULT_SEED) -> list[Row]:
    """Build the prompt set for ``seed``: categories interleaved at random, no duplicate prompts.

    Each category draws from its own ``random.Random(f"{seed}:{category}")``, so editing one
    category's templates leaves the others' prompts unchanged; the order comes from
    ``random.Random(seed)``. A prompt whose messages equal an earlier one is drawn again, so a
    server's prefix cache never sees a whole prompt twice.
    """
    order = [c for c, n in CATEGORY_COUNTS.items() for _ in range(n)]
    random.Random(seed).shuffle(order)
    rngs = {c: random.Random(f"{seed}:{c}") for c in CATEGORY_COUNTS}
    seen: set[str] = set()
    rows: list[Row] = []
    for number, category in enumerate(order, start=1):
        rng = rngs[category]
        while True:
            messages = BUILDERS[category](rng)
            key = json.dumps(messages, ensure_ascii=False)
            if key not in seen:
                seen.add(key)
                break
        rows.append(
            {
                "id": f"{ID_PREFIX}-{number:04d}",
                "category": category,
                "messages": messages,
                "max_tokens": rng.choice(MAX_TOKENS[category]),
            }
        )
    return rows


def render(rows: Sequence[Row]) -> bytes:
    """The JSONL bytes: one row per line in field order, UTF-8, ``\\n`` line endings."""
    lines = [json.dumps(row, ensure_ascii=False, separators=(", ", ": ")) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def count_input_tokens(rows: Sequence[Row], model_dir: Path) -> list[int]:
    """Input tokens of each row as the server sees them: the chat template plus generation prompt.

    :raises SystemExit: when the tokenizer folder is missing (``make model`` builds it).
    """
    if not (model_dir / "tokenizer.json").is_file():
        raise SystemExit(
            f"no tokenizer in {model_dir}; build the embedded model with `make model`, pass "
            "--model DIR, or use --no-length-check"
        )
    from transformers import AutoTokenizer  # lazy: only the length check and --stats need it

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    counts = []
    for row in rows:
        ids = tokenizer.apply_chat_template(
            row["messages"], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        counts.append(len(ids))
    return counts


def over_budget(rows: Sequence[Row], tokens: Sequence[int]) -> list[str]:
    """Rows whose input tokens plus ``max_tokens`` exceed ``TOKEN_BUDGET``, described."""
    return [
        f"{r['id']}: {n} input + {r['max_tokens']} max_tokens > {TOKEN_BUDGET}"
        for r, n in zip(rows, tokens, strict=True)
        if n + r["max_tokens"] > TOKEN_BUDGET
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between order statistics.

    The same definition as ``numpy.percentile``'s default ("linear", type 7 of Hyndman and
    Fan): the value at rank ``(n - 1) * q / 100`` of the sorted values, interpolated.
    """
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stats_table(rows: Sequence[Row], tokens: Sequence[int]) -> str:
    """The README's markdown table: counts, input-token and max_tokens percentiles per category."""
    header = (
        "| category | prompts | input p10 | input p50 | input p90 | input max "
        "| max_tokens p10 | max_tokens p50 | max_tokens p90 | max_tokens max |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    groups = [*CATEGORY_COUNTS, "all"]
    for group in groups:
        idx = [i for i, r in enumerate(rows) if group in ("all", r["category"])]
        inp = [tokens[i] for i in idx]
        out = [rows[i]["max_tokens"] for i in idx]
        cells = [f"{percentile(inp, q):.0f}" for q in (10, 50, 90)] + [str(max(inp))]
        cells += [f"{percentile(out, q):.0f}" for q in (10, 50, 90)] + [str(max(out))]
        name = f"**{group}**" if group == "all" else f"`{group}`"
        lines.append(f"| {name} | {len(idx)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the set (default), compare it (``--check``) or describe it (``--stats``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSONL file")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="tokenizer folder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if --out differs")
    mode.add_argument("--stats", action="store_true", help="print the README table for --out")
    parser.add_argument(
        "--no-length-check", action="store_true", help="write without counting tokens"
    )
    args = parser.parse_args(argv)

    if args.stats:
        rows = [json.loads(line) for line in args.out.read_text("utf-8").splitlines() if line]
        tokens = count_input_tokens(rows, args.model)
        problems = over_budget(rows, tokens)
        print(stats_table(rows, tokens))
        for problem in problems:
            print(f"over budget: {problem}", file=sys.stderr)
        return 1 if problems else 0

    rows = generate(args.seed)
    data = render(rows)
    if args.check:
        if not args.out.is_file() or args.out.read_bytes() != data:
            print(
                f"{args.out} differs from what seed {args.seed} generates; rerun "
                "python data/prompts/make_prompts.py and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out} is up to date ({len(rows)} prompts)")
        return 0

    if not args.no_length_check:
        problems = over_budget(rows, count_input_tokens(rows, args.model))
        if problems:
            print("not written; prompts over the token budget:", file=sys.stderr)
            print("\n".join(problems), file=sys.stderr)
            return 1
    from servegate.core.fsutil import atomic_path  # the library, once the checks have passed
    from servegate.measure.prompts import load_prompts

    with atomic_path(args.out) as tmp:
        tmp.write_bytes(data)
    loaded = load_prompts(args.out)
    print(f"wrote {len(loaded)} prompts to {args.out}, sha256 {loaded.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
