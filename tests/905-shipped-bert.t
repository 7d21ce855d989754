#!/usr/bin/env lua5.4
-- tests/905-shipped-bert.t — the small BERT shipped in models/ (pre-trained by
-- examples/text_transfer.lua on Debian's package descriptions): it loads with
-- graft.load_model and its vocabulary with graft.text.WordPiece, the two agree, and its
-- features know what a description is about. tests/data/debian-sections.csv holds 30
-- descriptions for each of ten Sections, all held out of pre-training; a linear probe on
-- mean-pooled features learns from 15 per section and is scored on the other 15, against the
-- same probe on a randomly initialised BERT of the same shape.
local T, graft = require "tap", require "graft"
local data = graft.data

local path, vocab = "models/bert_debian_mini.safetensors", "models/bert_debian_mini.vocab.txt"
local bert = graft.load_model(path)
local c = bert.config.args.config
T.is(bert.config.arch, "bert", "the shipped model is a BERT encoder")
T.ok(c.num_hidden_layers == 4 and c.hidden_size == 128 and c.num_attention_heads == 4 and c.intermediate_size == 512,
     "4 layers, hidden 128, 4 heads, intermediate 512, as its model card says")
local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:close()
T.ok(size < 10 * 2 ^ 20, ("the file is %.2f MB (under 10 MB)"):format(size / 2 ^ 20))

local tok = graft.text.WordPiece(vocab)
T.is(tok:size(), c.vocab_size, "the vocabulary has the config's vocab_size tokens")
local ids = tok:encode("A library for reading PNG images.").input_ids
T.is(tok:decode(ids, {skip_special_tokens = true}), "a library for reading png images.", "it round-trips a description")

local ds = data.TextClassification("tests/data/debian-sections.csv", {tokenizer = tok, max_length = c.max_position_embeddings})
T.is(#ds, 300, "300 held-out descriptions")
local unk, total = 0, 0
for i = 1, #ds do
  for _, id in ipairs(tok:encode((ds:get(i)), {max_length = 64}).input_ids) do
    total = total + 1
    if id == tok:id("[UNK]") then unk = unk + 1 end
  end
end
T.ok(unk / total < 0.01, ("%.2f%% of their tokens are [UNK] (under 1%%)"):format(100 * unk / total))

-- First 15 of each section train the probe, the other 15 score it.
local fit_idx, score_idx, seen = {}, {}, {}
for i = 1, #ds do
  local y = ds:label(i)
  seen[y] = (seen[y] or 0) + 1
  table.insert(seen[y] <= 15 and fit_idx or score_idx, i)
end
local function probe_accuracy(model)
  local function features(idx)
    return graft.extract(model, data.Loader(data.Subset(ds, idx), {batch_size = 50}), {pool = "mean", progress = false})
  end
  local fx, fy = features(fit_idx)
  local sx, sy = features(score_idx)
  local head = graft.transfer.linear_probe(fx, fy, {num_classes = 10})
  return graft.transfer.count_correct(head(sx), sy) / sy:size(1)
end
local pretrained = probe_accuracy(bert)
graft.manual_seed(1)
local random = probe_accuracy(graft.models.bert{config = c})
T.ok(pretrained >= 0.5, ("linear probe on the shipped model's features: %.3f of 150 (>= 0.5; chance 0.1)"):format(pretrained))
T.ok(pretrained >= random + 0.15,
     ("... against %.3f on a random BERT's: pre-training is worth %.0f points"):format(random, 100 * (pretrained - random)))
T.done()
