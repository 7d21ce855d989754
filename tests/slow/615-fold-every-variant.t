#!/usr/bin/env lua5.4
-- tests/slow/615-fold-every-variant.t — tests/615-fold.t over every registered zoo variant
-- (each ResNet, VGG and EfficientNet depth) and 1000 randomly composed models.
FOLD_EVERY_VARIANT, FOLD_RANDOM_MODELS = true, 1000
dofile((arg and arg[0] or "tests/slow/x"):gsub("slow/[^/]*$", "615-fold.t"))
