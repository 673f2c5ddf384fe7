# Shared helpers: config validation at parse time, names and paths derived from config.
# Each stage's params slice comes from its own package (mwalign.<stage>.params); the
# Snakefile has put this checkout's workflow/ first on sys.path.
import re

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from mwalign.devices import export_gpu_slots
from mwalign.runner import point_caches_into, remove_leftovers

# Hugging Face and mteb caches inside the project tree, set before anything imports them.
point_caches_into(".")
# Workstation GPUs: the profile's `resources: gpu` devices become slots that each job
# asking for gpu=k takes k of (mwalign.devices); jobs inherit the pool from this process.
if workflow.is_main_process:
    GPUS = workflow.global_resources.get("gpu")
    export_gpu_slots(gpus=GPUS.value if GPUS is not None else None)

from mwalign import plan, runlock
from mwalign.assemble import assemble_settings
from mwalign.config import check_inputs, or_exit, validate_config
from mwalign.evaluate.params import evaluate_params
from mwalign.frozen import frozen_jobs, frozen_params
from mwalign.models.ids import model_dir
from mwalign.models.integrity import check_model_folders
from mwalign.models.params import fetch_params
from mwalign.products import find_damaged, incomplete_outputs
from mwalign.paths import CT2_DIR, MODELS_DIR, SIMILARITY_SUFFIX, SOURCE_LANGUAGE
from mwalign.sample.corpus import corpus_sources
from mwalign.schedule import PRIORITY, job_threads
from mwalign.train.params import dataset_name, train_params
from mwalign.train.sweep import selection_params
from mwalign.translate.params import (
    convert_params,
    ctranslate2_models,
    fetched_translator_dir,
    similarity_params,
    translate_job_params,
    translator_dir,
)

# A second run in a folder where one is running stops here, saying which process has it.
if workflow.is_main_process:
    runlock.refuse_if_held(".")


onstart:
    runlock.hold(".")
    # What killed jobs left (temporary files and folders); no job of another run is
    # running: this process holds the folder's run lock.
    for leftover in remove_leftovers("."):
        logger.info(f"removed {leftover}, left by a job that was killed")


or_exit(validate_config, config)
# Sizes against the data, lengths against the models, the hub when offline: once per run.
if workflow.is_main_process:
    or_exit(check_inputs, config)

PLAN = plan.make_plan(config)
LANGUAGES = PLAN.languages
SHARDS = PLAN.shards
TEACHER = PLAN.teacher
RUNS = PLAN.train_jobs  # a run's (or sweep point's) name, or that with -seed{k}
SWEPT = PLAN.swept_models  # a swept run's model -> the point jobs it is chosen among
BASE_MODELS = PLAN.base_models
EVAL_MODELS = PLAN.eval_models
TASKS = PLAN.tasks
MODEL_IDS = PLAN.model_ids
# A deleted or truncated weights file of a materialised model stops the run here.
check_model_folders([f"{MODELS_DIR}/{slug}" for slug in MODEL_IDS])
SIMILARITY = similarity_params(config)  # None unless translate.similarity.enabled
CT2_MODELS = ctranslate2_models(config)  # slug -> id; empty for other backends


def planned_cores():
    """``--cores`` of this run; None where it is not given (a cluster executor, a dry run),
    and in a job a cluster executor started: its threads were fixed when it was submitted,
    and ``--cores`` there counts the node's CPUs, not the job's."""
    if workflow.remote_exec:
        return None
    try:
        return workflow.cores
    except WorkflowError:
        return None


# Threads and priorities: the critical path first, no idle cores (see mwalign.schedule).
WHOLE_MACHINE = job_threads(cores=planned_cores())
RUN_EVAL_THREADS = job_threads(
    cores=planned_cores(), side_by_side=len(PLAN.trained_models) * len(TASKS) or 1
)
TEACHER_PRIORITY = PRIORITY[
    "train" if any(train_params(config, run)["teacher"] for run in RUNS) else "teacher"
]


def one_of(names):
    """A wildcard's constraint: exactly one of ``names`` (nothing when there are none: an
    empty alternation would let the wildcard take any value)."""
    return "|".join(map(re.escape, names)) or "(?!)"


wildcard_constraints:
    lang="|".join(LANGUAGES),
    shard=r"\d+",
    slug="|".join(map(re.escape, MODEL_IDS)),
    translator=one_of(CT2_MODELS),
    run="|".join(map(re.escape, RUNS)),
    swept=one_of(SWEPT),
    model="|".join(map(re.escape, EVAL_MODELS)),
    task="|".join(map(re.escape, TASKS)),
    student="|".join(map(re.escape, config["students"])),
    dataset="multiway|enx",


def canonical(value):
    """``value`` with dict keys sorted at every level.

    Snakemake compares params by their text, so without this a config whose keys were
    merely reordered would look changed and rerun every job.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def eval_threads(wildcards):
    """A base model's evaluation takes the whole machine; trained models' share it."""
    return WHOLE_MACHINE if wildcards.model in BASE_MODELS else RUN_EVAL_THREADS


def eval_priority(wildcards):
    return PRIORITY["evaluate_base" if wildcards.model in BASE_MODELS else "evaluate_run"]


def student_dir(student):
    return model_dir(config["students"][student]["model"])


def eval_model_dir(model):
    """Folder of a model to evaluate: a base student's or a trained run's."""
    if model in BASE_MODELS:
        return student_dir(BASE_MODELS[model])
    return f"results/models/{model}"


def translation_shards(lang):
    return [f"results/translations/{lang}/{shard}.parquet" for shard in SHARDS]


def translation_stats(lang):
    return [f"results/translations/{lang}/{shard}.stats.json" for shard in SHARDS]


def corpus_file_input(wildcards):
    """The corpus files (corpus.source file, or the file sources of a mixture), so that
    editing one reruns sample."""
    return [
        settings["file"]["path"]
        for _, settings in corpus_sources(config["corpus"])
        if settings["source"] == "file"
    ]


def translate_gpus(translate):
    """GPUs of a translation job: none (reference), one, or vLLM's tensor-parallel size."""
    backend = translate["backend"]
    if backend == "vllm":
        return translate["vllm"]["tensor_parallel_size"]
    return 1 if backend in ("transformers", "ctranslate2") else 0


def translate_env(backend):
    """The conda env of a translation backend: vLLM, CUDA torch, or CPU only (reference)."""
    env = {"vllm": "vllm", "transformers": "gpu", "ctranslate2": "gpu"}.get(backend, "cpu")
    return f"../../envs/{env}.yaml"


def translate_inputs(wildcards):
    """The corpus and the language's translator: the folder fetch_model made of it, or for
    the ctranslate2 backend its converted copy; the reference backend needs no model."""
    inputs = {"corpus": rules.sample.output.corpus}
    if config["translate"]["backend"] == "ctranslate2":
        inputs["translator"] = translator_dir(config, wildcards.lang)
    elif config["translate"]["backend"] != "reference":
        inputs["model"] = fetched_translator_dir(config, wildcards.lang)
    return inputs


def similarity_files(lang):
    """The similarity side files of every shard of ``lang`` (none when the check is off)."""
    if SIMILARITY is None:
        return []
    return [f"results/translations/{lang}/{shard}{SIMILARITY_SUFFIX}" for shard in SHARDS]


def teacher_extra_inputs(wildcards):
    """The multi-way dataset only when the teacher also embeds target languages."""
    if set(config["teacher"]["languages"]) - {SOURCE_LANGUAGE}:
        return {"multiway": rules.assemble.output.multiway}
    return {}


def train_inputs(wildcards):
    params = train_params(config, wildcards.run)
    inputs = {
        "dataset": f"results/dataset/{dataset_name(params)}.parquet",
        "student": student_dir(params["student"]["name"]),
    }
    if params["teacher"]:
        inputs["teacher"] = rules.teacher.output.embeddings
    if params["train"]["drift_weight"] > 0:
        inputs["frozen"] = rules.frozen.output.embeddings.format(
            student=params["student"]["name"], dataset=dataset_name(params)
        )
    return inputs


def products():
    """Every file and folder of the experiment that a user reads: the sample, translations,
    dataset tables, teacher and frozen embeddings, trained models (every sweep point and
    each swept run's choice), evaluation results and the report.
    Rule all asks for each, so a missing one is made again by a plain run."""
    paths = ["results/corpus/en.parquet", "results/corpus/stats.json"]
    for lang in LANGUAGES:
        paths += translation_shards(lang) + translation_stats(lang) + similarity_files(lang)
        if SIMILARITY is not None:
            paths += [f"results/translations/{lang}/{s}.similarity.json" for s in SHARDS]
    paths += [
        f"results/dataset/{name}" for name in ("multiway.parquet", "enx.parquet", "card.json")
    ]
    paths += [f"results/teacher/{TEACHER}.parquet", f"results/teacher/{TEACHER}.json"]
    paths += [
        f"results/frozen/{job}.{suffix}"
        for job in frozen_jobs(config)
        for suffix in ("parquet", "json")
    ]
    paths += [f"results/models/{run}" for run in [*RUNS, *SWEPT]]
    for model in EVAL_MODELS:
        for task in TASKS:
            paths += [
                f"results/eval/{model}/{task}.json",
                f"results/eval/{model}/{task}.items.parquet",
            ]
    report_files = ("scores.parquet", "summary.md", "summary.html", "plots", "cards")
    paths += [f"results/report/{name}" for name in report_files]
    return paths


PRODUCTS = products()
# Damaged products (size, rows or content unlike what their job wrote: mwalign.products)
# are made again in this run, before any job reads them; missing ones too (rule all).
DAMAGED = {}
if workflow.is_main_process:
    DAMAGED = find_damaged(PRODUCTS)
    for path, why in DAMAGED.items():
        logger.warning(
            f"{path} is damaged: {why}; the job that makes it runs again now, "
            "then the jobs that depend on it"
        )
    for path in incomplete_outputs():
        logger.warning(
            f"{path} was left incomplete by an interrupted run: a plain snakemake runs its "
            "job again"
        )


def rebuild_damaged():
    """Make Snakemake rerun the jobs of the damaged products, as ``--forcerun`` of those
    files would, and the jobs an interrupted run left incomplete, as
    ``--rerun-incomplete`` would (no other run is using them: the run lock). Called while
    the DAG is built (from rule all's input function), the only moment the run's own
    settings can take more."""
    settings = workflow.dag_settings
    if hasattr(settings, "force_incomplete") and not settings.force_incomplete:
        settings.force_incomplete = True
    if not DAMAGED:
        return
    dag = getattr(workflow, "_dag", None)
    forced = getattr(dag, "forcefiles", None)
    if not isinstance(forced, set):
        raise WorkflowError(
            "damaged products cannot be rebuilt automatically with this Snakemake; run: "
            f"snakemake --forcerun {' '.join(DAMAGED)}"
        )
    forced.update(DAMAGED)


def all_inputs(wildcards):
    rebuild_damaged()
    return PRODUCTS
