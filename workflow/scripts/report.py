from mwalign.report import build_report
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
build_report(
    result_paths=snakemake.input.results,
    model_meta=snakemake.params.models,
    out_scores=snakemake.output.scores,
    out_summary=snakemake.output.summary,
    plot_dir=snakemake.output.plots,
    out_html=snakemake.output.html,
)
