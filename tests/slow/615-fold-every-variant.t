#!/usr/bin/env lua5.4
-- tests/slow/615-fold-every-variant.t — tests/615-fold.t over every registered zoo variant
-- (each ResNet, VGG and EfficientNet depth) and up to 1000 randomly composed models: under
-- SLOW_BUDGET, as many as a third of it allows (at least the fast tier's 60).
FOLD_EVERY_VARIANT, FOLD_RANDOM_MODELS = true, 1000
local budget = tonumber(os.getenv("SLOW_BUDGET") or "")
if budget then FOLD_RANDOM_SECONDS = budget / 3 end
dofile((arg and arg[0] or "tests/slow/x"):gsub("slow/[^/]*$", "615-fold.t"))
