# Reference values for stats.UTest, computed by R's wilcox.test.
#
#   Rscript scripts/r/wilcox_reference.R > stats/testdata/wilcox_reference.json
#
# Needs only base R (Debian: apt-get install r-base-core). The Go tests read
# the JSON; R is not needed at test time. Every number is written with 17
# significant digits so that the Go side can compare to 1e-9.

set.seed(20260301)

num <- function(v) {
  if (is.infinite(v)) return(if (v > 0) '"Inf"' else '"-Inf"')
  if (is.nan(v) || is.na(v)) return('"NaN"')
  sprintf('"%.17g"', v)
}
vec <- function(v) paste0("[", paste(vapply(v, num, ""), collapse = ", "), "]")

cases <- list()
add <- function(name, x, y, alternative = "two.sided", mu = 0, correct = TRUE,
                exact = NULL, conf.level = 0.95) {
  r <- suppressWarnings(wilcox.test(x, y, alternative = alternative, mu = mu,
                                    correct = correct, exact = exact,
                                    conf.int = TRUE, conf.level = conf.level))
  cases[[length(cases) + 1]] <<- paste0(
    "  {",
    '"name": "', name, '", ',
    '"x": ', vec(x), ", ",
    '"y": ', vec(y), ", ",
    '"alternative": "', alternative, '", ',
    '"mu": ', num(mu), ", ",
    '"correct": ', if (correct) "true" else "false", ", ",
    '"exact": ', if (is.null(exact)) "null" else if (exact) "true" else "false", ", ",
    '"confLevel": ', num(conf.level), ", ",
    '"method": "', r$method, '", ',
    '"statistic": ', num(unname(r$statistic)), ", ",
    '"pValue": ', num(r$p.value), ", ",
    '"confInt": ', vec(as.numeric(r$conf.int)), ", ",
    '"achievedConfLevel": ', num(attr(r$conf.int, "conf.level")), ", ",
    '"estimate": ', num(unname(r$estimate)),
    "}")
}

alts <- c("two.sided", "greater", "less")

# Small samples without ties: R's exact distribution.
x <- round(rnorm(8, 10, 2), 6); y <- round(rnorm(11, 9, 2), 6)
for (a in alts) add(paste0("exact-8x11-", a), x, y, alternative = a)
add("exact-8x11-conf98", x, y, conf.level = 0.98)
add("exact-8x11-mu", x, y, mu = 1.5)
add("exact-3x4", c(1.1, 2.2, 3.3), c(0.5, 4.4, 5.5, 6.6))
add("exact-1x5", 3.5, c(1, 2, 3, 4, 5))
add("exact-1x1", 2, 1)
add("exact-2x2-unreachable", c(1, 2), c(3, 4), conf.level = 0.99)
x <- round(rexp(20, 1 / 100), 4); y <- round(rexp(25, 1 / 120), 4)
for (a in alts) add(paste0("exact-20x25-", a), x, y, alternative = a, conf.level = 0.98)
x <- round(rnorm(49, 0.3), 8); y <- round(rnorm(49), 8)
add("exact-49x49", x, y, conf.level = 0.98)
add("exact-49x49-forced-normal", x, y, exact = FALSE, conf.level = 0.98)
add("exact-49x49-forced-normal-nocorrect", x, y, exact = FALSE, correct = FALSE, conf.level = 0.98)

# Small samples with ties: R falls back to the normal approximation.
x <- c(1, 2, 2, 3, 3, 3, 4); y <- c(2, 3, 4, 4, 5, 5, 6, 7)
for (a in alts) {
  add(paste0("ties-7x8-", a), x, y, alternative = a)
  add(paste0("ties-7x8-", a, "-nocorrect"), x, y, alternative = a, correct = FALSE)
}
add("ties-7x8-mu", x, y, mu = -1)
add("ties-counts", c(0, 0, 1, 0, 2, 0, 0, 1), c(0, 0, 0, 1, 0, 0, 0, 0, 0, 0))
add("ties-mostly-equal", c(5, 5, 5, 5, 6), c(5, 5, 5, 5, 5, 4))
add("ties-separated", c(10, 10, 11, 11), c(1, 1, 2, 2))

# Large samples: normal approximation.
x <- rnorm(60, 0.4); y <- rnorm(80)
for (a in alts) {
  add(paste0("normal-60x80-", a), x, y, alternative = a, conf.level = 0.98)
  add(paste0("normal-60x80-", a, "-nocorrect"), x, y, alternative = a, correct = FALSE, conf.level = 0.98)
}
x <- round(rlnorm(200, log(120), 0.3)); y <- round(rlnorm(150, log(100), 0.3))
for (a in alts) add(paste0("latency-ties-200x150-", a), x, y, alternative = a, conf.level = 0.98)
add("latency-ties-200x150-mu", x, y, mu = 10, conf.level = 0.98)
x <- rpois(500, 3); y <- rpois(400, 3)
add("poisson-heavy-ties-500x400", x, y, conf.level = 0.98)
add("poisson-heavy-ties-500x400-nocorrect", x, y, correct = FALSE)
add("unbalanced-3x60", c(5.5, 6.1, 7.2), rnorm(60, 5), conf.level = 0.98)
x <- rnorm(1000); y <- rnorm(1000, 0.05)
add("normal-1000x1000", x, y, conf.level = 0.98)
add("identical-samples", c(1, 2, 3, 4, 5, 6), c(1, 2, 3, 4, 5, 6))

cat("[\n", paste(cases, collapse = ",\n"), "\n]\n", sep = "")
