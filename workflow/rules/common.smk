# The workflow's shared functions (its rules are in the other .smk files; `snakemake --lint` wants the two
# apart): the profile's run matrix, the one resolver of a run's config, the one place that leaves out
# experiments whose user-provided data is absent, and the resources and launcher of every job.
import os
import shlex
import shutil
import sys
from functools import cache
from importlib import import_module
from pathlib import Path

ROOT = Path(workflow.basedir)  # the repository; runs may write elsewhere (snakemake --directory DIR)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the workflow resolves run configs with the domains' own code

from common.config import load_config
from common.config_files import chain as config_chain
from common.paths import DOMAINS
from common import resources, rundir

# Jobs run `python -m <package>` (or `torchrun ... -m <package>`) with the interpreter that runs Snakemake,
# locally or inside a SLURM job (which parses this file again). It is put first on PATH here rather than
# written into the commands, so that moving the clone changes no command and reruns nothing.
os.environ.update(
    PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
)
if not (found := shutil.which("python")) or not os.path.samefile(found, sys.executable):
    raise ValueError(
        f"jobs would run {found or 'no python'}, not {sys.executable}, which runs Snakemake: run Snakemake from "
        "the project's environment (.venv/bin/snakemake, or `conda activate dfa-scales`)"
    )

PROFILE = config["profile"]
RESULTS = config.get("results", "results")
REPORT = f"{RESULTS}/REPORT.md"
if PROFILE not in config["profiles"]:
    raise ValueError(f"unknown profile '{PROFILE}'; config/config.yaml defines {list(config['profiles'])}")
DOMAIN_INPUTS = {}  # domain -> function(wildcards) -> files a run needs besides its config and code
REPORT_INPUTS = []  # files besides the runs' final.json that the report reads (e.g. hardware sweeps)


def domain_cfg(domain):
    """The profile's section for a domain ({} when the profile does not run it)."""
    return config["profiles"][PROFILE].get(domain) or {}


def experiment_cfg(domain, exp):
    """One experiment's entry in the profile's section of a domain."""
    return domain_cfg(domain)["experiments"][exp] or {}


def runs(domain):
    """Every final.json the profile asks of a domain."""
    section = domain_cfg(domain)
    return [
        f"{RESULTS}/{domain}/{exp}/{method}/seed{seed}/final.json"
        for exp, spec in section.get("experiments", {}).items()
        for method in spec["methods"]
        for seed in spec.get("seeds", section.get("seeds", [0]))
    ]


def quoted(items):
    """Command-line words for the shell, each quoted: a value like x=[1, 2] stays one argument, and a
    profile's `x=1; touch FILE` reaches the program as text instead of running."""
    return " ".join(shlex.quote(str(item)) for item in items)


def override_list(domain, exp, method):
    """Profile-wide, then experiment-specific, then method-specific config overrides of one run."""
    section = domain_cfg(domain)
    spec = experiment_cfg(domain, exp)
    by_method = spec.get("method_overrides", {}).get(method, [])
    return [*section.get("overrides", []), *spec.get("overrides", []), *by_method]


def run_overrides(wildcards):
    """A run's overrides, quoted for its command line."""
    return quoted(override_list(wildcards.domain, wildcards.exp, wildcards.method))


def config_class(domain):
    """A domain's root config dataclass: <domain>/config.py's <Domain>Config (any case: NLPConfig)."""
    package = import_module(f"{domain}.config")
    found = [obj for name, obj in vars(package).items() if name.lower() == f"{domain}config"]
    if len(found) != 1:
        raise ValueError(f"{domain}/config.py must define one {domain.capitalize()}Config, the config of a run")
    return found[0]


@cache
def run_config(domain, exp, method):
    """The resolved config of one run, exactly as `python -m <domain>.train` builds it from its command."""
    cls = config_class(domain)
    path = ROOT / domain / "configs" / f"{exp}.yaml"
    return load_config(cls, path, [f"feedback.kind={method}", *override_list(domain, exp, method)])


def drop_missing_data(domain, user_files, how_to):
    """Leave out the profile's experiments whose user-provided data is absent, with a notice (the report
    marks their cells "not run"). `user_files(cfg)`: the files a run with config `cfg` reads that the user
    must provide (WikiText-103, the real Criteo train.txt); `how_to`: where the user learns to get them."""
    experiments = domain_cfg(domain).get("experiments", {})
    left_out = {}
    for exp, spec in list(experiments.items()):
        missing = [p for p in user_files(run_config(domain, exp, spec["methods"][0])) if not Path(p).exists()]
        if missing:
            left_out.setdefault(str(missing[0]), []).append(exp)
            del experiments[exp]
    for path, exps in left_out.items():
        print(f"[{domain}] {path} is absent (see {how_to}): left out {', '.join(exps)}", file=sys.stderr)


def code_files(domain):
    """The code a job of `domain` executes, the files a run's checkpoint fingerprint hashes
    (common.rundir.code_fingerprint): every .py file of common/, hardware/ and the domain but the
    presentation-only ones. A change to one reruns the job."""
    return sorted(str(p) for p in rundir.code_files(domain, ROOT))


def config_inputs(wildcards):
    """A run's experiment file and the files it inherits from (`base:`)."""
    return [str(p) for p in config_chain(ROOT / wildcards.domain / "configs" / f"{wildcards.exp}.yaml")]


def batched_domains():
    """Domains whose profile section sets `batch_seeds`: each experiment × method is one job over the
    domain's seeds (an experiment may then not name seeds of its own)."""
    batched = []
    for domain in DOMAINS:
        section = domain_cfg(domain)
        if section.get("batch_seeds"):
            own = [exp for exp, spec in section.get("experiments", {}).items() if spec and "seeds" in spec]
            if own:
                raise ValueError(f"profile '{PROFILE}', {domain}: batch_seeds uses the domain's seeds, but {own} set their own")
            batched.append(domain)
    return batched


# -- resources: what each job asks of the machine or of the cluster's scheduler ---------------------------
def job_resources(domain=None, kind="train"):
    """The resources of a job of `domain` (None: the workflow's own jobs) in this profile: common.resources."""
    return resources.job_resources(config, PROFILE, domain, kind)


def domain_threads(domain):
    """Torch threads of one training process (the profile section's `threads`)."""
    return domain_cfg(domain).get("threads", 1)


def processes(domain):
    """Processes of one training job: one per GPU under torchrun, else one."""
    return max(1, job_resources(domain)["gpus"])


def scheduler_resources(domain, kind, cpus):
    """The `resources:` of a job (`resources: **scheduler_resources(...)`) of `domain` (None: the workflow's
    own jobs), from job_resources. runtime (minutes) and mem_mb are per job; cpus_per_task is `cpus(w)`;
    gpu its GPUs (0: a CPU job; the SLURM executor asks for gpu=N as --gpus=N). A function of the
    wildcards where `domain` is one ("{domain}" in the generic training rules)."""
    which = (lambda w: w.domain) if domain == "{domain}" else (lambda w: domain)
    return dict(
        runtime=lambda w: job_resources(which(w), kind)["runtime"],
        mem_mb=lambda w: job_resources(which(w), kind)["mem_mb"],
        cpus_per_task=cpus,
        gpu=lambda w: job_resources(which(w), kind)["gpus"],
    )


def train_resources(seeds):
    """A training job's resources, and `run_minutes`: how long each of its `seeds` (run one after another)
    may train inside a SLURM job before it leaves with a checkpoint (exit status 75) for `retries`
    (profiles/slurm) to resubmit it: the job's runtime less its start-up and a margin, shared by the runs."""

    def run_minutes(w):
        runtime = job_resources(w.domain)["runtime"]
        return max(1, (runtime - max(2, runtime // 20)) // seeds)

    def cpus(w):  # every process's threads
        return domain_threads(w.domain) * processes(w.domain)

    return scheduler_resources("{domain}", "train", cpus) | {"run_minutes": run_minutes}


def job_threads(w, threads):
    """cpus_per_task of a single-process job: its `threads:`."""
    return threads


def launcher(domain):
    """How a training job starts: torchrun with one process per GPU when it has several, else python."""
    if processes(domain) > 1:
        return f"torchrun --standalone --nproc_per_node {processes(domain)} -m {domain}.train"
    return f"python -m {domain}.train"


for _domain in (*DOMAINS, "hardware"):  # a bad `resources` entry fails here, before any job is planned
    job_resources(_domain, "train")
    job_resources(_domain, "prepare")
