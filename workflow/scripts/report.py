# First: this checkout's mwalign, then the job's log, GPUs and threads, before the
# stage's imports can initialise CUDA (workflow/scripts/mwalign_job.py).
from mwalign_job import start

start(snakemake)

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
    run_params=snakemake.params.runs,
)
