# Shared constants and input functions. Challenge step lists come from the progalign registry,
# so plug-in challenges (entry points or module:Class) get the right DAG too.
from progalign.benchmark.layout import slug
from progalign.benchmark.registry import get_challenge

MODELS = config["models"]
BENCH = config["benchmark"]
RES = config["resources"]
CENTURIES = MODELS["centuries"]
FAMILY = MODELS["family"]
FAMILY_DIR = f"resources/models/{FAMILY}"
T = len(CENTURIES)
ALGORITHMS = {slug(a): a for a in BENCH["algorithms"]}
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


def trajectory(challenge):
    return "history" if CHALLENGES[challenge].feedback == "history" else "coevolve"


def evaluated_steps(challenge):
    return CHALLENGES[challenge].evaluated_steps(T)


def run_dir(w):
    return f"results/runs/{w.traj}/{w.algorithm}/seed{w.seed}"


def model_dir(century):
    return f"{FAMILY_DIR}/{century}"


# Coevolve's last simulated-human step elicits no feedback (no examinee step follows it).
LAST_STEP = str(T - 1)
EARLIER_STEPS = "|".join(str(t) for t in range(1, T - 1)) or "(?!)"
RUN = "results/runs/{traj}/{algorithm}/seed{seed}"
COEVOLVE = "results/runs/coevolve/{algorithm}/seed{seed}"
RUN_TAG = RUN.removeprefix("results/")  # log and benchmark paths
COEVOLVE_TAG = COEVOLVE.removeprefix("results/")
FIGURES = [
    "values_heatmap",
    "group_trajectories",
    "value_trends",
    "similarity_curves",
    "scores_bars",
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


def feedback_input(w):
    t = int(w.step)
    if w.traj == "history":
        return f"results/preferences/{FAMILY}/{CENTURIES[t]}.jsonl"
    if t == 1:  # the simulated humans start as the first century's model
        return f"results/preferences/{FAMILY}/{CENTURIES[0]}.jsonl"
    return f"{COEVOLVE.format(**w)}/humans{t - 1}.feedback.jsonl"


def previous_input(w):
    t = int(w.step)
    if t == 1:
        return {"start": model_dir(CENTURIES[0])}
    d = f"{run_dir(w)}/step{t - 1}"
    return {"start": f"{d}/model", "state": f"{d}/state.json"}


def human_input(w):
    t = int(w.step)
    if t == 1:
        return model_dir(CENTURIES[0])
    return f"{COEVOLVE.format(**w)}/humans{t - 1}/model"


def score_inputs(w):
    traj = trajectory(w.challenge)
    d = f"results/runs/{traj}/{w.algorithm}/seed{w.seed}"
    steps = evaluated_steps(w.challenge)
    inputs = {
        "actual": [f"results/values/{FAMILY}/{c}.json" for c in CENTURIES],
        "info": [f"{d}/step{t}/step.json" for t in steps],
    }
    if traj == "history":
        inputs["examinee"] = [f"{d}/values{t}.json" for t in steps]
    else:
        inputs["simulated"] = [f"{d}/humans{t}.values.json" for t in steps]
        inputs["info"] += [f"{d}/humans{t}/humans.json" for t in steps]
    return inputs


def score_args(w, input):
    args = [f"--actual {c}={p}" for c, p in zip(CENTURIES, input.actual)]
    if trajectory(w.challenge) == "history":
        steps = evaluated_steps(w.challenge)
        args += [f"--examinee {t}={p}" for t, p in zip(steps, input.examinee)]
    else:
        args += [f"--simulated {p}" for p in input.simulated]
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
