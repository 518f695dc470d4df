"""For learners and teachers: the working behind each number (explain), one-layer calculator (calc), exercises and
their grading, the inverse problems (solve), sweeps over variables and comparisons of nets."""
