"""Results that cannot be forged or turned into a hang. Every trusted check's inputs are drawn while grading, so a
results file made in advance fails; the grader reads a kernel's results as hostile, in its own process: a FIFO, a
link or a huge file at the results path costs that check its points with a reason, quickly, and never hangs or
crashes the class run; random functions are tested for randomness on seeds drawn while grading."""
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT
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


def tensors_in(value) -> list:
    "Every tensor inside a check's inputs (dicts and lists walked), in a stable order."
    if isinstance(value, dict):
        return [t for key in sorted(value) for t in tensors_in(value[key])]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in tensors_in(item)]
    return [value] if isinstance(value, torch.Tensor) else []


def test_every_check_draws_its_inputs_anew_and_its_kernel_code_is_a_module_function(tmp_path):
    """Two gradings give every trusted check different inputs (so no results file made before can match), while
    the code the kernel runs is the same: a function of course/dumps.py, then one call naming the student's
    definitions; the inputs travel as data."""
    import inspect
    import tomllib

    from videomae_minimal.course import dumps

    cells = set()
    for name, check in trusted_checks.TRUSTED_CHECKS.items():
        assert check.dump.__module__ == dumps.__name__ and check.dump.__name__ in dumps.__all__, name
        first, second = (tensors_in(trusted_checks.prepared(check)[0]) for _ in range(2))
        assert len(first) == len(second) and any(not torch.equal(a, b) for a, b in zip(first, second)), name
        cell = check.source(tmp_path / f"{name}.pt", tmp_path / f"{name}-inputs.pt")
        compile(cell, name, "exec")
        assert cell.count(inspect.getsource(check.dump)) == 1, name
        cells.add(cell)
    assert len(cells) == len(trusted_checks.TRUSTED_CHECKS)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert "videomae_minimal.course" in packages and Path(dumps.__file__).parent == ROOT / "videomae_minimal" / "course"


# ------------------------------------------------------------------------- attacks played in a sandboxed kernel
def docs_answers() -> dict:
    """What a student could have collected in advance for 01's fixed cases: the Hugging Face docs' sampler's answers,
    computed here with numpy alone (not with the grader's code), as plain lists."""
    import numpy as np

    def docs(seed, clip_len, rate, seg_len):
        end = np.random.RandomState(seed).randint(clip_len * rate, seg_len)
        return np.clip(np.linspace(end - clip_len * rate, end, num=clip_len), end - clip_len * rate, end - 1).astype(int)

    def from_generator(seed):
        end = int(np.random.default_rng(seed).integers(64, 300))
        return np.clip(np.linspace(end - 64, end, num=16), end - 64, end - 1).astype(int).tolist()

    fixed = [(0, 16, 4, 300), (1, 8, 2, 50), (2, 16, 1, 17)] + [(seed, 16, 4, 120) for seed in range(50)]  # notebook 01's
    return {"first": from_generator(0), "generator": from_generator(5),
            **{f"{seed}:{n}:{rate}:{length}": docs(seed, n, rate, length).tolist() for seed, n, rate, length in fixed}}


def replacing_torch_save(body: str) -> str:
    """A solution region for 01 that answers zeros and, once called, replaces torch.save in the kernel with `body`
    (obj, path): the check cell's own save then writes what the student chose to the grader's results path."""
    lines = ["    import os, torch", "    if not getattr(torch.save, 'replaced', False):",
             "        keep = torch.save", "        def save(obj, path, *args, **kwargs):"]
    lines += ["            " + line for line in body.split("\n")]
    lines += ["        save.replaced = True", "        torch.save = save", "    return np.zeros(clip_len, dtype=np.int64)"]
    return "\n".join(lines)


ATTACKS = {  # name -> (what torch.save does instead, what the grader must say)
    "forged": (f"answers = {docs_answers()!r}\n"
               "forged = {key: torch.tensor(value, dtype=torch.float64) for key, value in answers.items()}\n"
               "keep({**forged, 'is_int64_array': torch.tensor(True)}, path)",
               "you give None, the docs' sampler gives"),  # every fixed case right: a drawn one is missing
    "fifo": ("os.mkfifo(path)", "not a regular file"),
    "link": ("os.symlink('/etc/hostname', path)", "not a plain file"),
    "oversized": (f"with open(path, 'wb') as f:\n    f.truncate({trusted_checks.RESULTS_LIMIT + 1})  # sparse: no disk used",
                  "more than"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_results_file_the_student_controls_scores_nothing_and_never_hangs(attack, student_dir, tmp_path):
    """The student's code owns the kernel, so it can write anything at the results path. A file of right answers
    to the fixed cases (all a student can know in advance) misses the cases drawn while grading; a FIFO, a link or
    a file past the size cap is refused with its reason, within seconds: the class run neither hangs nor crashes."""
    sandbox_or_skip()
    body, reason = ATTACKS[attack]
    sub = submission_from(student_dir, tmp_path, {"01_frame_sampling.ipynb": with_solution(
        instructor("01_frame_sampling.ipynb"), "sample_frame_indices_solution", replacing_torch_save(body))})
    start = time.perf_counter()
    result = by_notebook(course.grade(sub, notebooks=["01"], timeout=60))["01_frame_sampling.ipynb"]
    assert not result["passed"] and result["points"] == 0 and reason in result["message"], result
    assert time.perf_counter() - start < 60, "a results file held the grader"
