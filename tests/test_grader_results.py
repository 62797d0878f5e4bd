"""The grader reads a kernel's results as hostile, and tests the randomness of random functions on seeds it draws
while grading. The read is in the grader's own process: a FIFO, a link or a huge file at the results path must cost
that check its points with a reason, quickly, and never hang or crash the class run."""
import os
import threading
import time

import pytest
import torch

from test_course import by_notebook, instructor, sandbox_or_skip, submission_from, student_dir, with_solution  # noqa: F401
from videomae_minimal import course
from videomae_minimal.course import trusted_checks
from videomae_minimal.course.trusted_checks import MASK_SEEDS, ResultsRefused, read_results
from videomae_minimal.masking import tube_mask


def test_a_fifo_at_the_results_path_is_refused_at_once(tmp_path):
    fifo = tmp_path / "tube_mask.pt"
    os.mkfifo(fifo)
    done = {}
    reader = threading.Thread(target=lambda: done.update(verdict=trusted_checks.TRUSTED_CHECKS["tube_mask"].verdict(fifo, None)),
                              daemon=True)
    start = time.perf_counter()
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "the grader hung on a FIFO"
    assert "not a regular file" in done["verdict"] and time.perf_counter() - start < 5


def test_a_link_at_the_results_path_is_not_followed(tmp_path):
    secret = tmp_path / "instructor_answers.pt"
    torch.save({"mask": torch.zeros(3, 120, dtype=torch.bool)}, secret)
    (tmp_path / "tube_mask.pt").symlink_to(secret)
    with pytest.raises(ResultsRefused, match="not a plain file"):
        read_results(tmp_path / "tube_mask.pt")


def test_a_huge_results_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "tube_mask.pt"
    with big.open("wb") as f:
        f.truncate(trusted_checks.RESULTS_LIMIT + 1)  # sparse: no disk used
    assert "more than" in trusted_checks.TRUSTED_CHECKS["tube_mask"].verdict(big, None)
    assert "wrote no results" in trusted_checks.TRUSTED_CHECKS["tube_mask"].verdict(tmp_path / "none.pt", None)


def masks_from(make) -> dict:
    "The randomness part of a results file, from a mask function make(seed) -> (1, 32) bool."
    seeds = trusted_checks._prepare_masks()[0]["seeds"].tolist()
    return {"fresh": torch.cat([make(seed) for seed in seeds]), "fresh_again": make(seeds[0])}


def test_randomness_is_checked_on_fresh_seeds():
    right = masks_from(lambda seed: tube_mask(1, (2, 4, 4), 0.5, generator=torch.Generator().manual_seed(seed)))
    assert trusted_checks._compare_randomness(right["fresh"], right["fresh_again"]) is None
    fixed = torch.tensor([True] * 8 + [False] * 8).repeat(2)[None]  # the right count, tubes, and no randomness
    constant = masks_from(lambda seed: fixed)
    assert "not random" in trusted_checks._compare_randomness(constant["fresh"], constant["fresh_again"])
    two_patterns = masks_from(lambda seed: fixed if seed % 2 else fixed.roll(1, dims=1))
    assert "not random" in trusted_checks._compare_randomness(two_patterns["fresh"], two_patterns["fresh_again"])
    corner = torch.zeros(16, dtype=torch.bool)
    corner[:4] = True  # always the first four positions, then 4 random others of the remaining 12

    def biased(seed):
        rest = 4 + torch.randperm(12, generator=torch.Generator().manual_seed(seed))[:4]
        step = corner.clone()
        step[rest] = True
        return step.repeat(2)[None]

    skewed = masks_from(biased)
    assert "spread over the frame" in trusted_checks._compare_randomness(skewed["fresh"], skewed["fresh_again"])
    seeds = {tuple(trusted_checks._prepare_masks()[0]["seeds"].tolist()) for _ in range(2)}
    assert len(seeds) == 2 and len(next(iter(seeds))) == MASK_SEEDS  # drawn anew at every grading


def test_a_tube_mask_without_randomness_scores_nothing(student_dir, tmp_path):
    sandbox_or_skip()
    fixed = ("    t, h, w = grid\n"  # the right count, tubes, a different pattern per sample: and no randomness
             "    step = torch.zeros(h * w, dtype=torch.bool)\n"
             "    step[:int(mask_ratio * h * w)] = True\n"
             "    return torch.stack([step.roll(b).repeat(t) for b in range(batch_size)])")
    sub = submission_from(student_dir, tmp_path, {
        "05_tube_masking.ipynb": with_solution(instructor("05_tube_masking.ipynb"), "tube_mask_solution", fixed)})
    result = by_notebook(course.grade(sub, notebooks=["05"]))["05_tube_masking.ipynb"]
    assert not result["passed"] and "your masks are not random" in result["message"], result  # full marks before


def test_a_results_file_made_in_advance_fails_the_sizes_drawn_while_grading():
    "Tables for the fixed cases only (all a student could know in advance) no longer pass: the drawn sizes are missing."
    from videomae_minimal.positions import sinusoid_table

    inputs, drawn = trusted_checks._prepare_sinusoid_tables()
    advance = {f"{n}x{dim}": sinusoid_table(n, dim) for n, dim in trusted_checks.SINUSOID_CASES}
    verdict = trusted_checks._compare_sinusoid_tables(advance, drawn)
    assert verdict is not None and f"({drawn[0][0]}, {drawn[0][1]})" in verdict, verdict
    answered = {**advance, **{f"{n}x{dim}": sinusoid_table(n, dim) for n, dim in inputs["cases"].tolist()}}
    assert trusted_checks._compare_sinusoid_tables(answered, drawn) is None


def test_sampled_indices_made_in_advance_miss_the_cases_drawn_while_grading():
    "Answers to every fixed case, right ones, still fail: the 8 cases drawn as the grader grades are not in them."
    inputs, expected = trusted_checks._prepare_sampled_indices()
    fixed = {f"{seed}:{n}:{rate}:{length}" for seed, n, rate, length in trusted_checks.SAMPLER_CASES}
    advance = {"is_int64_array": torch.tensor(True), "first": torch.arange(16.0),
               **{key: torch.as_tensor(value, dtype=torch.float64) for key, value in expected.items()
                  if key in fixed or key == "generator"}}
    assert len(inputs["cases"]) == len(trusted_checks.SAMPLER_CASES) + 8 and "the docs' sampler gives" in trusted_checks._compare_sampled_indices(advance, expected)
    whole = {**advance, **{key: torch.as_tensor(value, dtype=torch.float64) for key, value in expected.items()}}
    assert trusted_checks._compare_sampled_indices(whole, expected) is None
