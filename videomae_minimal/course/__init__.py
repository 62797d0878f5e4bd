"""The course as assignments: student versions of the notebooks, and a grader. Written by hand (no notebook).

Grading runs every notebook in a fresh Jupyter kernel (a separate process: no student code runs in the grader's),
cell by cell, with a time limit per cell, and kills the kernel afterwards. A graded check cell scores its points
when it runs without an error (an exercise may have several). Each submitted notebook gets its own scratch copy of
the course tree, and the kernel imports the package from it alone (PYTHONPATH): this notebook's step is the
student skeleton, the other steps the reference, so a step left unsolved in one notebook costs nothing in another.
On Linux with bubblewrap the kernel runs sandboxed. `grade_class` grades a folder of students into a gradebook.

The rooms, lowest first (each imports only those above it):
- `notebooks`: nbgrader's markers, student versions of cells and notebooks, the exercises, shared small helpers;
- `student`: the student edition (it ships none of the modules below);
- `submissions`: finding and unpacking a student's notebooks;
- `kernel`: the scratch tree, the sandbox, running a notebook;
- `trusted_checks`: the checks compared in the grader's process;
  (`dumps`: the code those checks send into the kernel, as text; never called here);
- `grading`: one submission;
- `gradebook`: a class.

This package sits on top, beside the command line: it imports no step.
"""
from .gradebook import grade_class
from .grading import Result, grade, grade_notebook, graded_checks
from .kernel import sandbox_available
from .notebooks import (HIDDEN_TESTS, SOLUTION, CourseError, Exercise, GradingError, exercises, solution_lines,
                        source_root, student_notebook, student_source)
from .student import exercise_functions, make_student, new_folder
from .submissions import match_submission

__all__ = ["grade_class", "Result", "grade", "grade_notebook", "graded_checks", "sandbox_available", "HIDDEN_TESTS",
           "SOLUTION", "CourseError", "Exercise", "GradingError", "exercises", "solution_lines", "source_root",
           "student_notebook", "student_source", "exercise_functions", "make_student", "new_folder", "match_submission"]
