# Reference fits of the real-data matrix (not needed to run the tests: their numbers are
# hard-coded in tests/realdata/references.py with this script named as their source).
#
# Usage: Rscript tests/realdata/references.R DIR
#   where DIR holds <name>.csv (small) and <name>_full.csv written by
#   tests/realdata/datasets.py (see tests/benchmarks/realdata.py --write-csv DIR).
# Needs R with lme4 and ordinal (Debian: apt-get install r-base-core r-cran-lme4 r-cran-ordinal).
suppressMessages({library(lme4); library(ordinal)})
dir <- commandArgs(trailingOnly = TRUE)[1]
show <- function(label, est, se) {
  for (n in names(est)) cat(sprintf("%s\t%s\t%.4f\t%.4f\n", label, n, est[[n]], se[[n]]))
}
for (size in c("", "_full")) {
  w <- read.csv(file.path(dir, paste0("wine", size, ".csv")))
  m <- clmm(ordered(rating) ~ temp + contact + (1 | judge), data = w, nAGQ = 10)
  s <- coef(summary(m)); show(paste0("wine", size), s[, 1], s[, 2])
  cat(sprintf("wine%s\tsd_judge\t%.4f\tNA\n", size, sqrt(VarCorr(m)$judge[1])))

  e <- read.csv(file.path(dir, paste0("exam", size, ".csv")))
  e$sex <- factor(e$sex, levels = c("M", "F"))  # F = 1, as the codebook
  m <- lmer(normexam ~ standLRT + sex + boys_school + girls_school + (1 | school), data = e)
  s <- coef(summary(m)); show(paste0("exam", size), s[, 1], s[, 2])
  cat(sprintf("exam%s\tsigma\t%.4f\tNA\n", size, sigma(m)))

  k <- read.csv(file.path(dir, paste0("contraception", size, ".csv")))
  m <- glmer(use == "Y" ~ age + age2 + urban + ch + (1 | district), data = k, family = binomial)
  s <- coef(summary(m)); show(paste0("contraception", size), s[, 1], s[, 2])

  b <- read.csv(file.path(dir, paste0("cbpp", size, ".csv")))
  m <- glmer(cbind(incidence, size - incidence) ~ period2 + period3 + period4 + (1 | herd),
             data = b, family = binomial)
  s <- coef(summary(m)); show(paste0("cbpp", size), s[, 1], s[, 2])

  i <- read.csv(file.path(dir, paste0("insteval", size, ".csv")))
  m <- clmm(ordered(y) ~ studage + lectage + service + (1 | student) + (1 | lecturer), data = i)
  s <- coef(summary(m)); show(paste0("insteval", size), s[, 1], s[, 2])
}
