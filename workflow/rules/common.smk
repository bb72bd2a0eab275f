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
QDIR = "resources/questionnaire/" + config["questionnaire"]["protocol"] + (
    f"-n{config['questionnaire']['per_dimension']}-s{config['questionnaire']['seed']}"
    if config["questionnaire"]["per_dimension"]
    else ""
)
# The config as the CLI sees it (passed to every benchmark job; Snakemake tracks params).
CONFIG_JSON = json.dumps(
    {k: config[k] for k in ("models", "evaluation", "benchmark", "training")},
    sort_keys=True,
)
SPEC = f"--config-json {shlex.quote(CONFIG_JSON)} --questionnaire {QDIR} --models {FAMILY_DIR}"


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
