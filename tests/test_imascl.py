"""The soft-label objectives against IMASCL's own loss, transcribed from its code.

Reference: github.com/YAI12xLinq-B/IMASCL at commit c687c60, ``modules/AMETrainer.py``:
``AMETrainer.compute_loss`` (pseudo labels from the teacher, the two directions, the
``train_mono_space`` terms), ``_compute_loss_from_type`` (``CS`` and ``MMSE``),
``_w_func`` and ``_w_softmax``; the teacher side chosen per pair in ``train.py``
(``tokenize_function``, ``embed_direction`` ``input`` and ``both``). train.sh runs
``--loss_type CS --w_func Softmax`` with tau 0.1 (the default of ``--tau``), margin 0
and no ``small_batch_size``; those are the settings transcribed here.

The project averages the two directions where the reference sums them, so the
reference is 2x the project's loss, and 4x with TCM at the default lambda = 0.5.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from mwalign.config import validate_config
from mwalign.train.losses import SimilarityMSE, SoftContrastive, build_loss
from mwalign.train.params import train_params
from test_train_fixtures import train_raw

TAU = 0.1  # train.sh leaves --tau at its default, 0.1
LANGS = ["en", "de", "es", "zh"]  # IMASCL's --langs order is its priority order, English first


# --- transcription of modules/AMETrainer.py (one process, margin 0, no small_batch_size) ---


def imascl_w_softmax(sim_matrix, positive_mask, tau, margin):
    """AMETrainer._w_softmax without small_batch_size."""
    exps = torch.exp((sim_matrix - positive_mask * margin) / tau)
    return exps / torch.sum(exps, dim=1, keepdim=True)


def imascl_compute_loss_from_type(sim, pseudo_labels, *, loss_type, w_func, tau=TAU):
    """AMETrainer._compute_loss_from_type with _w_func; positive_threshold 0.95, margin 0."""
    with torch.no_grad():
        positive_mask = pseudo_labels > 0.95
        w = (
            imascl_w_softmax(pseudo_labels, positive_mask, tau, 0)
            if w_func == "Softmax"
            else pseudo_labels
        )
    if loss_type == "CS":
        sim_mat = imascl_w_softmax(sim, positive_mask, tau, 0.0)
        batch_size = sim_mat.size(0)
        return -torch.sum(w * torch.log(sim_mat)) / batch_size
    return torch.mean(torch.pow((sim - w) / tau, 2))


def imascl_pseudo_labels(teacher_1, teacher_2, *, embed_direction, lang1, lang2):
    """compute_loss's pseudo labels; for ``input``, train.py's per-row teacher choice
    (lang2priority from --langs order, ``<=``), for ``both`` the mean of both sides."""
    sim = lambda e: torch.mm(e, e.t())  # noqa: E731  (AMETrainer._compute_sim_matrix)
    if embed_direction == "both":
        return (sim(teacher_1) + sim(teacher_2)) / 2
    lang2priority = {lang: priority for priority, lang in enumerate(LANGS)}
    chosen = teacher_1 if lang2priority[lang1] <= lang2priority[lang2] else teacher_2
    return sim(chosen)


def imascl_loss(
    embeds_1, embeds_2, pseudo_labels, *, train_mono_space=False, loss_type="CS", w_func="Softmax"
):
    """AMETrainer.compute_loss from the embeddings on: the two directions, then TCM."""
    kind = {"loss_type": loss_type, "w_func": w_func}
    sim = torch.mm(embeds_1, embeds_2.t())
    loss = imascl_compute_loss_from_type(
        sim, pseudo_labels, **kind
    ) + imascl_compute_loss_from_type(sim.t(), pseudo_labels.t(), **kind)
    if train_mono_space:
        sim_1 = torch.mm(embeds_1, embeds_1.t())
        sim_2 = torch.mm(embeds_2, embeds_2.t())
        loss += imascl_compute_loss_from_type(
            sim_1, pseudo_labels, **kind
        ) + imascl_compute_loss_from_type(sim_1.t(), pseudo_labels.t(), **kind)
        loss += imascl_compute_loss_from_type(
            sim_2, pseudo_labels, **kind
        ) + imascl_compute_loss_from_type(sim_2.t(), pseudo_labels.t(), **kind)
    return loss


# --- helpers ---


def unit_batch(seed: int, views: int, batch: int = 12, dim: int = 24) -> list[torch.Tensor]:
    """Student embeddings as IMASCL's _encode returns them: L2-normalised."""
    generator = torch.Generator().manual_seed(seed)
    return [F.normalize(torch.randn(batch, dim, generator=generator), dim=-1) for _ in range(views)]


def teacher_batch(seed: int, views: int, batch: int = 12, dim: int = 16) -> torch.Tensor:
    """Teacher embeddings per view, correlated across views like translations: (B, V, d)."""
    generator = torch.Generator().manual_seed(seed)
    shared = torch.randn(batch, 1, dim, generator=generator)
    noise = 0.5 * torch.randn(batch, views, dim, generator=generator)
    return F.normalize(shared + noise, dim=-1)


def reference_over_pairs(
    views, teacher, *, strategy, tcm=False, loss_type="CS", w_func="Softmax", pairs=None
):
    """The reference loss of each unordered language pair, averaged over the pairs."""
    direction = "both" if strategy == "average" else "input"
    pairs = pairs or list(itertools.combinations(range(len(views)), 2))
    losses = []
    for a, b in pairs:
        if strategy == "priority":  # the project's default: English's similarities
            labels = teacher[:, 0] @ teacher[:, 0].T
        else:
            labels = imascl_pseudo_labels(
                teacher[:, a],
                teacher[:, b],
                embed_direction=direction,
                lang1=LANGS[a],
                lang2=LANGS[b],
            )
        losses.append(
            imascl_loss(
                views[a], views[b], labels, train_mono_space=tcm, loss_type=loss_type, w_func=w_func
            )
        )
    return torch.stack(losses).mean()


# --- En-X (one pair per batch, as in IMASCL) ---


@pytest.mark.parametrize("strategy", ["priority", "pair_priority", "average"])
def test_imascl_soft_loss_is_half_the_reference_on_a_pair(strategy):
    views, teacher = unit_batch(0, 2), teacher_batch(1, 2)
    labels = teacher[:, :1] if strategy == "priority" else teacher
    ours = SoftContrastive(None, temperature=TAU, teacher_temperature=TAU, label_strategy=strategy)
    reference = reference_over_pairs(views, teacher, strategy=strategy)
    assert ours.compute_loss_from_views(views, labels).item() == pytest.approx(
        reference.item() / 2, rel=1e-5
    )


@pytest.mark.parametrize("strategy", ["priority", "average"])
def test_imascl_tcm_at_default_lambda_is_a_quarter_of_the_reference(strategy):
    views, teacher = unit_batch(2, 2), teacher_batch(3, 2)
    labels = teacher[:, :1] if strategy == "priority" else teacher
    ours = SoftContrastive(None, TAU, TAU, label_strategy=strategy, tcm=True)  # lambda default
    assert ours.tcm_lambda == 0.5
    reference = reference_over_pairs(views, teacher, strategy=strategy, tcm=True)
    assert ours.compute_loss_from_views(views, labels).item() == pytest.approx(
        reference.item() / 4, rel=1e-5
    )


def test_imascl_tcm_average_uses_the_pair_targets_in_the_monolingual_terms():
    """With each language's OWN similarities in its monolingual term, the loss would differ."""
    views, teacher = unit_batch(4, 2), teacher_batch(5, 2)
    ours = SoftContrastive(None, TAU, TAU, label_strategy="average", tcm=True)
    own_targets = [torch.softmax(teacher[:, v] @ teacher[:, v].T / TAU, dim=-1) for v in range(2)]
    log_p = [torch.log_softmax(view @ view.T / TAU, dim=-1) for view in views]
    own = sum(-(t * lp).sum(-1).mean() for t, lp in zip(own_targets, log_p, strict=True)) / 2
    cross = SoftContrastive(None, TAU, TAU, label_strategy="average").compute_loss_from_views(
        views, teacher
    )
    value = ours.compute_loss_from_views(views, teacher).item()
    assert value != pytest.approx(0.5 * cross.item() + own.item(), rel=1e-3)
    assert value == pytest.approx(
        reference_over_pairs(views, teacher, strategy="average", tcm=True).item() / 4, rel=1e-5
    )


def test_imascl_similarity_mse_is_half_the_reference():
    views, teacher = unit_batch(6, 2), teacher_batch(7, 2)
    ours = SimilarityMSE(None, temperature=TAU)
    reference = reference_over_pairs(
        views, teacher, strategy="priority", loss_type="MMSE", w_func="raw"
    )
    assert ours.compute_loss_from_views(views, teacher[:, :1]).item() == pytest.approx(
        reference.item() / 2, rel=1e-5
    )
    average = SimilarityMSE(None, temperature=TAU, label_strategy="average")
    reference = reference_over_pairs(
        views, teacher, strategy="average", loss_type="MMSE", w_func="raw"
    )
    assert average.compute_loss_from_views(views, teacher).item() == pytest.approx(
        reference.item() / 2, rel=1e-5
    )


# --- multi-way: the mean over language pairs of the reference's pair loss ---


@pytest.mark.parametrize(
    ("strategy", "tcm"),
    list(itertools.product(["priority", "pair_priority", "average"], [False, True])),
)
def test_imascl_multiway_is_the_mean_over_pairs_of_the_reference(strategy, tcm):
    views, teacher = unit_batch(8, len(LANGS)), teacher_batch(9, len(LANGS))
    labels = teacher[:, :1] if strategy == "priority" else teacher
    ours = SoftContrastive(None, TAU, TAU, label_strategy=strategy, tcm=tcm)
    reference = reference_over_pairs(views, teacher, strategy=strategy, tcm=tcm)
    factor = 4 if tcm else 2
    assert ours.compute_loss_from_views(views, labels).item() == pytest.approx(
        reference.item() / factor, rel=1e-5
    )


def test_imascl_pair_priority_takes_the_higher_priority_language_of_each_pair():
    views, teacher = unit_batch(10, len(LANGS)), teacher_batch(11, len(LANGS))
    pairwise = SoftContrastive(None, TAU, TAU, label_strategy="pair_priority")
    for a, b in [(1, 2), (3, 1), (2, 3)]:
        first = teacher[:, min(a, b)]  # de before es before zh
        expected = torch.softmax(first @ first.T / TAU, dim=-1)
        assert torch.allclose(pairwise.soft_targets(teacher, a, b), expected, atol=1e-6)
        english = torch.softmax(teacher[:, 0] @ teacher[:, 0].T / TAU, dim=-1)
        assert not torch.allclose(pairwise.soft_targets(teacher, a, b), english, atol=1e-3)
    with pytest.raises(ValueError, match="teacher.languages"):
        pairwise.compute_loss_from_views(views, teacher[:, :1])
    # on pairs with English (En-X, or pairs: english) the two rules agree
    en_pairs = [(0, b) for b in range(1, len(LANGS))]
    for strategy, labels in (("priority", teacher[:, :1]), ("pair_priority", teacher)):
        loss = SoftContrastive(None, TAU, TAU, label_strategy=strategy, pairs="english")
        reference = reference_over_pairs(views, teacher, strategy="pair_priority", pairs=en_pairs)
        assert loss.compute_loss_from_views(views, labels).item() == pytest.approx(
            reference.item() / 2, rel=1e-5
        )


# --- the run's defaults are IMASCL's, and the constant factor only matters for clipping ---


@pytest.mark.parametrize("objective", ["soft", "similarity_mse"])
def test_imascl_defaults_one_tau_even_when_infonce_temperature_is_set(objective):
    raw = train_raw(temperature=0.05)  # the InfoNCE temperature of config.yaml
    raw["runs"]["teach"] = {"student": "tiny", "data": "enx", "objective": objective}
    config = validate_config(raw)
    loss = build_loss(train_params(config, "teach"), model=None, teacher_dim=16)
    assert loss.temperature == TAU
    if objective == "soft":
        assert loss.teacher_temperature == TAU and loss.tcm_lambda == 0.5
    infonce = build_loss(train_params(config, "enx"), model=None, teacher_dim=None)
    assert infonce.temperature == 0.05


def test_imascl_schema_defaults_are_the_references():
    """The defaults a validated config gets: one tau 0.1, lambda 0.5, no teacher prefix."""
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    config["runs"]["soft"] = {"student": "e5-small", "data": "multiway", "objective": "soft"}
    validated = validate_config(config)
    hyper = train_params(validated, "soft")["train"]
    assert hyper["temperature"] == 0.05  # InfoNCE's, set in config.yaml: not the soft run's
    assert (hyper["soft_temperature"], hyper["teacher_temperature"]) == (TAU, TAU)
    assert hyper["tcm_lambda"] == 0.5
    assert validated["teacher"]["prefix"] == ""


def test_imascl_summed_loss_with_clipping_m_equals_averaged_loss_with_m_over_two():
    """The documented equivalence: AdamW on c * L clipped at c * m == AdamW on L clipped at m.

    A constant factor on the loss matters only where clipping acts on some steps and not
    on others (clipping every step rescales every gradient alike, which AdamW ignores);
    the clipping threshold here is chosen so that it does.
    """

    def train(scale: float, max_norm: float) -> tuple[torch.Tensor, list[float]]:
        torch.manual_seed(0)
        encoder = torch.nn.Linear(24, 8)
        optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-2, eps=1e-12, weight_decay=0.01)
        teacher, norms = teacher_batch(13, 2), []
        for step in range(8):
            views = [F.normalize(encoder(x), dim=-1) for x in unit_batch(100 + step, 2)]
            loss = scale * SoftContrastive(None, TAU, TAU).compute_loss_from_views(
                views, teacher[:, :1]
            )
            optimizer.zero_grad()
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_(encoder.parameters(), max_norm).item())
            optimizer.step()
        return encoder.weight.detach().clone(), norms

    _, norms = train(scale=1.0, max_norm=float("inf"))
    m = sorted(norms)[len(norms) // 2]  # clips about half of the steps
    ours, ours_norms = train(scale=1.0, max_norm=m)
    assert 0 < sum(n > m for n in ours_norms) < len(ours_norms)
    reference_like, _ = train(scale=2.0, max_norm=2 * m)  # IMASCL sums both directions
    assert torch.allclose(reference_like, ours, atol=1e-5)
    same_threshold, _ = train(scale=2.0, max_norm=m)
    assert not torch.allclose(same_threshold, ours, atol=1e-4)


def imascl_gathered(embeds: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """AMETrainer._make_embed with cross_acc_sampling: dist.all_gather (no gradient),
    then the process's own rows put back with their gradient."""
    chunks = [chunk.detach() for chunk in embeds.chunk(world)]
    chunks[rank] = embeds.chunk(world)[rank]
    return torch.cat(chunks)


@pytest.mark.parametrize(("world", "tcm"), [(2, False), (2, True), (4, False)])
def test_imascl_cross_gpu_gradient_is_c_over_world_times_ours(world, tcm):
    """IMASCL's DDP gradient (mean over processes, each through its own rows) = c / W x ours."""
    torch.manual_seed(0)
    encoder = torch.nn.Linear(24, 8)
    inputs, teacher = unit_batch(20, 2, batch=4 * world), teacher_batch(21, 2, batch=4 * world)
    labels = teacher[:, 0] @ teacher[:, 0].T

    def gradient(loss: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(loss, encoder.weight)[0]

    per_process = []
    for rank in range(world):
        e1, e2 = (F.normalize(encoder(x), dim=-1) for x in inputs)
        g1, g2 = imascl_gathered(e1, rank, world), imascl_gathered(e2, rank, world)
        per_process.append(gradient(imascl_loss(g1, g2, labels, train_mono_space=tcm)))
    reference = torch.stack(per_process).mean(dim=0)  # DDP averages the processes' gradients
    views = [F.normalize(encoder(x), dim=-1) for x in inputs]
    ours = gradient(
        SoftContrastive(None, TAU, TAU, tcm=tcm).compute_loss_from_views(views, teacher[:, :1])
    )
    c = 4 if tcm else 2
    assert torch.allclose(reference, c / world * ours, atol=1e-6, rtol=1e-4)
