# Reference p-values for stats.UTest with MethodExactTies: the exact
# conditional distribution of the rank sum with ties, which R's wilcox.test
# does not compute (it falls back to the normal approximation). Computed by
# exactRankTests::wilcox.exact (Debian: apt-get install r-cran-exactranktests).
#
#   Rscript scripts/r/wilcox_exact_ties.R > stats/testdata/wilcox_exact_ties.json

suppressMessages(library(exactRankTests))
set.seed(20260302)
num <- function(v) sprintf('"%.17g"', v)
vec <- function(v) paste0("[", paste(vapply(v, num, ""), collapse = ", "), "]")
cases <- list()
add <- function(name, x, y, alternative = "two.sided") {
  r <- wilcox.exact(x, y, alternative = alternative, exact = TRUE)
  cases[[length(cases) + 1]] <<- paste0(
    '  {"name": "', name, '", "x": ', vec(x), ', "y": ', vec(y),
    ', "alternative": "', alternative, '", "statistic": ', num(unname(r$statistic)),
    ', "pValue": ', num(r$p.value), "}")
}
for (a in c("two.sided", "greater", "less")) {
  add(paste0("ties-7x8-", a), c(1, 2, 2, 3, 3, 3, 4), c(2, 3, 4, 4, 5, 5, 6, 7), a)
  add(paste0("counts-", a), c(0, 0, 1, 0, 2, 0, 0, 1), c(0, 0, 0, 1, 0, 0, 0, 0, 0, 0), a)
  x <- rpois(30, 4); y <- rpois(35, 3)
  add(paste0("poisson-30x35-", a), x, y, a)
  x <- round(rlnorm(40, log(100), 0.2), -1); y <- round(rlnorm(45, log(110), 0.2), -1)
  add(paste0("latency-rounded-40x45-", a), x, y, a)
}
add("ties-separated", c(10, 10, 11, 11), c(1, 1, 2, 2))
add("no-ties-6x5", c(1.5, 2.5, 3.5, 8, 9, 10), c(4, 5, 6, 7, 11))
cat("[\n", paste(cases, collapse = ",\n"), "\n]\n", sep = "")
