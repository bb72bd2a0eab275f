# Shared constants and input functions. Challenge step lists come from the progalign registry,
# so plug-in challenges (entry points or module:Class) get the right DAG too.
from progalign.benchmark.layout import Layout, Timeline, slug
from progalign.benchmark.registry import get_algorithm, get_challenge
from progalign.plan import OPTIMISER_STAGES, make_plan
from progalign.settings import resolve as resolve_settings

MODELS = config["models"]
BENCH = config["benchmark"]
RES = config["resources"]
CENTURIES = MODELS["centuries"]
FAMILY = MODELS["family"]
FAMILY_DIR = f"resources/models/{FAMILY}"
T = len(CENTURIES)
ALGORITHMS = {slug(a): a for a in BENCH["algorithms"]}
# The resource plan (docs/resources.md, `progalign plan`): each model rule's threads, resources
# and plan-made options (accelerate launch, tensor parallel) from the models' sizes and the
# resources.* hardware; a stage that cannot fit stops the workflow here, before any job (a dry
# run too). A CPU run (resources.gpus_per_node 0) keeps resources.threads/mem_mb/runtime.
PLAN = make_plan(resolve_settings(config))


def _optimiser(algorithm):
    """Examinee steps plan per optimiser: "dpo", "rlhf" or "any" (a plug-in without one)."""
    stage = getattr(get_algorithm(algorithm), "optimiser", "any")
    return stage if stage in OPTIMISER_STAGES else "any"


# algorithm slug -> optimiser
OPTIMISER = {s: _optimiser(a) for s, a in ALGORITHMS.items()}


def planned(rule, key):
    """`key` (threads, arguments, a resource) of `rule`'s plan; per algorithm (a function of
    the wildcards) for the examinee steps, which plan per optimiser."""
    if (rule, "") in PLAN.jobs:
        job = PLAN.get(rule)
        return job.arguments() if key == "arguments" else getattr(job, key)
    return lambda w: planned_for(rule, OPTIMISER[w.algorithm], key)


def planned_for(rule, variant, key):
    job = PLAN.get(rule, variant)
    if key == "arguments":
        return job.arguments()
    return job.resources()[key] if key in job.resources() else getattr(job, key)


def planned_resources(rule):
    """`rule`'s Snakemake resources (per algorithm for the examinee steps)."""
    if (rule, "") in PLAN.jobs:
        return PLAN.get(rule).resources()
    keys = PLAN.get(rule, "any").resources()
    return {k: planned(rule, k) for k in keys}


SEEDS = BENCH["seeds"]
Q = config["questionnaire"]
QNAME = (
    f"{Q['protocol']}-n{Q['per_dimension']}-s{Q['seed']}"
    if Q["per_dimension"]
    else Q["protocol"]
)
QDIR = f"resources/questionnaire/{QNAME}"
# The resolved config as the CLI sees it (recorded by the report job) ...
CONFIG_JSON = json.dumps(
    {k: config[k] for k in ("models", "evaluation", "benchmark", "training")},
    sort_keys=True,
)
# ... and as every model job gets it: without the grid's lists, which a job learns from its
# wildcards, so that adding an algorithm, challenge or seed changes no existing job's command.
GRID_KEYS = ("algorithms", "challenges", "seeds")
JOB_CONFIG_JSON = json.dumps(
    {
        **{k: config[k] for k in ("models", "evaluation", "training")},
        "benchmark": {k: v for k, v in BENCH.items() if k not in GRID_KEYS},
    },
    sort_keys=True,
)
SPEC = f"--config-json {shlex.quote(JOB_CONFIG_JSON)} --questionnaire {QDIR} --models {FAMILY_DIR}"


def _challenge(name):
    return get_challenge(name)(**BENCH["challenge_params"].get(name, {}))


CHALLENGE_NAMES = {slug(c): c for c in BENCH["challenges"]}
CHALLENGES = {slug(c): _challenge(c) for c in BENCH["challenges"]}

# The DAG's paths and steps come from progalign.benchmark.layout, as in `progalign run`:
# output patterns are Layout paths with wildcards, input functions ask the Timeline.
LAYOUT = Layout(Path("results"), FAMILY)
TIMELINE = Timeline(
    LAYOUT, tuple(CENTURIES), {c: Path(FAMILY_DIR) / c for c in CENTURIES}
)
# simulated-feedback trajectory -> its challenge (PG-Coevolve: "coevolve" -> "coevolve")
SIMULATED = {
    c.trajectory: name
    for name, c in zip(BENCH["challenges"], CHALLENGES.values())
    if c.feedback == "simulated"
}
SIMULATED_TRAJ = "|".join(SIMULATED) or "(?!)"


def model_dir(century):
    return str(TIMELINE.models[century])


def trajectory(challenge):
    return CHALLENGES[challenge].trajectory


def evaluated_steps(challenge):
    return CHALLENGES[challenge].evaluated_steps(T)


def _step(w):
    return (w.traj, w.algorithm, w.seed, int(w.step))


def feedback_input(w):
    traj, algorithm, seed, t = _step(w)
    return str(TIMELINE.feedback(traj, traj in SIMULATED, algorithm, seed, t))


def previous_input(w):
    previous = TIMELINE.previous(*_step(w))
    if previous is None:
        return {"start": str(TIMELINE.start)}
    return {"start": f"{previous}/model", "state": f"{previous}/state.json"}


def previous_arg(w):
    previous = TIMELINE.previous(*_step(w))
    return "" if previous is None else f"--previous {previous}"


def human_input(w):
    return str(TIMELINE.human(*_step(w)))


def history_answers_input(w):
    return str(TIMELINE.history_answers(int(w.step)))


# Output patterns (wildcards pass through Layout as text).
RUN = str(LAYOUT.run("{traj}", "{algorithm}", "{seed}"))
STEP = str(LAYOUT.step("{traj}", "{algorithm}", "{seed}", "{step}"))
STEP_VALUES = str(LAYOUT.step_values("{traj}", "{algorithm}", "{seed}", "{step}"))
HUMANS = str(LAYOUT.humans("{traj}", "{algorithm}", "{seed}", "{step}"))
HUMANS_VALUES = str(LAYOUT.humans_values("{traj}", "{algorithm}", "{seed}", "{step}"))
HUMANS_FEEDBACK = str(
    LAYOUT.humans_feedback("{traj}", "{algorithm}", "{seed}", "{step}")
)
SCORE = str(LAYOUT.score("{challenge}", "{algorithm}", "{seed}"))
RUN_TAG = RUN.removeprefix("results/")  # log and benchmark paths
# A simulated trajectory's last humans step elicits no feedback (no examinee step follows it).
LAST_STEP = str(T - 1)
EARLIER_STEPS = "|".join(str(t) for t in range(1, T - 1)) or "(?!)"
FIGURES = [
    "values_heatmap",
    "group_trajectories",
    "value_trends",
    "similarity_curves",
    "score_intervals",
]
# the tables every reference has; later additions are read when present
CORE_TABLES = ["values", "scores", "steps", "examinee_values"]
TABLES = [
    *CORE_TABLES,
    "differences",
    "value_differences",
    "calibration",
    "items",
    "item_probabilities",
]


def score_inputs(w):
    traj = trajectory(w.challenge)
    need = TIMELINE.score_inputs(
        traj, traj in SIMULATED, evaluated_steps(w.challenge), w.algorithm, w.seed
    )
    inputs = {
        "actual": [str(p) for p in need.actual],
        "info": [str(p) for p in need.info],
    }
    if traj in SIMULATED:
        inputs["simulated"] = [str(p) for p in need.simulated]
    else:
        inputs["examinee"] = [str(p) for p in need.examinee.values()]
    return inputs


def score_args(w, input):
    args = [f"--actual {c}={p}" for c, p in zip(CENTURIES, input.actual)]
    if trajectory(w.challenge) in SIMULATED:
        args += [f"--simulated {p}" for p in input.simulated]
    else:
        steps = evaluated_steps(w.challenge)
        args += [f"--examinee {t}={p}" for t, p in zip(steps, input.examinee)]
    return " ".join(args + ["--steps"] + [os.path.dirname(p) for p in input.info])


def report_outputs(out):
    figures = {
        f: report(
            f"{out}/figures/{f}.png",
            caption=f"../report/{f}.rst",
            category="Figures",
        )
        for f in FIGURES
    }
    return dict(
        **figures,
        svg=expand(f"{out}/figures/{{f}}.svg", f=FIGURES),
        csv=f"{out}/leaderboard.csv",
        trends=f"{out}/trends.csv",
        md=f"{out}/leaderboard.md",
        html=report(
            f"{out}/leaderboard.html",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
    )
