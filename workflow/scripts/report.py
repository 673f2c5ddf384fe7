import sys
from pathlib import Path

# This checkout's workflow/ first: the job runs its own mwalign, never an installed copy.
# (Snakemake sets __file__ to the script's real path.)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mwalign.runner import start_job

# First: the job takes its GPUs before the stage's imports can initialise CUDA.
start_job(snakemake.log[0], snakemake.threads, gpus=snakemake.resources.get("gpu", 0))

from mwalign.report import build_report
from mwalign.report.experiment import experiment_header

build_report(
    result_paths=snakemake.input.results,
    model_meta=snakemake.params.models,
    out_scores=snakemake.output.scores,
    out_summary=snakemake.output.summary,
    plot_dir=snakemake.output.plots,
    out_html=snakemake.output.html,
    out_cards=snakemake.output.cards,
    settings=snakemake.params.settings,
    experiment=experiment_header(snakemake.params.experiment),
    seed=snakemake.params.experiment["seed"],
)
