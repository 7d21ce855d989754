#!/usr/bin/env lua5.4
-- tests/350-text-data.t — graft.data.TextClassification from CSV (quoted fields with commas,
-- quotes and line breaks), TSV and JSON lines; classes; per_class; loader batches padded to
-- each batch's longest item; then the image verbs on text: fit a small bert_classifier,
-- evaluate it, extract pooled features, freeze by layer.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local data = graft.data
graft.manual_seed(T.seed())
math.randomseed(T.seed())

local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

write(dir .. "/a.csv", 'id,text,label\r\n1,"a fine, ""quoted"" text",pos\r\n2,"two\nlines",neg\r\n3,plain,pos\r\n')
local ds = data.TextClassification(dir .. "/a.csv")
T.is(#ds, 3, "CSV: three rows")
T.is(ds:get(1), 'a fine, "quoted" text', "a quoted field keeps its comma and doubled quotes")
T.is(ds:get(2), "two\nlines", "... and its line break")
T.is_deeply(ds.classes, {"neg", "pos"}, "classes: the labels seen, sorted")
T.is_deeply({ds:label(1), ds:label(2), ds:label(3)}, {2, 1, 2}, "labels are 1-based class indices")

write(dir .. "/b.tsv", "sentence\tother\tstars\nhello there\tx\t10\nbye now\ty\t2\nagain\tz\t2\n")
local tsv = data.TextClassification(dir .. "/b.tsv", {text = "sentence", label = "stars", text_pair = "other"})
T.is_deeply(tsv.classes, {"2", "10"}, "TSV: numeric labels sort as numbers")
T.is_deeply({tsv:get(1)}, {{"hello there", "x"}, 2}, "text_pair gives {text, pair}")

write(dir .. "/c.jsonl", '{"text": "one", "label": "b"}\n\n{"text": "two", "label": "a"}\n')
local jl = data.TextClassification(dir .. "/c.jsonl", {classes = {"b", "a"}})
T.is_deeply({jl:label(1), jl:label(2)}, {1, 2}, "JSON lines with given class order")

write(dir .. "/bad.csv", 'text,label\n"open,x\n')
T.error_like(function() data.TextClassification(dir .. "/bad.csv") end, "a quoted field is not closed", "an unclosed quote")
write(dir .. "/short.csv", "text,label\nonly one field\n")
T.error_like(function() data.TextClassification(dir .. "/short.csv") end, "record 2 has 1 fields, the header 2", "a short record")
write(dir .. "/bad.jsonl", '{"text": "a", "label": 1}\nnot json\n')
T.error_like(function() data.TextClassification(dir .. "/bad.jsonl") end, "line 2 is not a JSON object", "a bad JSON line")
T.error_like(function() data.TextClassification(dir .. "/a.csv", {text = "body"}) end, 'row 1 has no text column "body"', "a missing column")

-- A toy task: is a sentence about the sea or the mountains? Words from two small sets, the
-- rest shared filler, lengths 3 to 14 so that batches need padding.
local sea = {"wave", "boat", "fish", "tide", "shore", "sail"}
local hill = {"peak", "rock", "snow", "trail", "cliff", "pine"}
local filler = {"the", "a", "we", "saw", "near", "and", "big", "old", "day"}
local vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
for _, list in ipairs {sea, hill, filler} do for _, w in ipairs(list) do vocab[#vocab + 1] = w end end
write(dir .. "/vocab.txt", table.concat(vocab, "\n") .. "\n")
local tok = graft.text.WordPiece(dir .. "/vocab.txt")
local function sentences(n, path)
  local lines = {"text,label"}
  for i = 1, n do
    local topic = i % 2 == 0 and sea or hill
    local words = {}
    for j = 1, math.random(3, 14) do
      words[j] = (j % 3 == 1) and topic[math.random(#topic)] or filler[math.random(#filler)]
    end
    lines[#lines + 1] = table.concat(words, " ") .. "," .. (topic == sea and "sea" or "mountain")
  end
  write(path, table.concat(lines, "\n") .. "\n")
end
sentences(200, dir .. "/train.csv")
sentences(100, dir .. "/test.csv")
local train = data.TextClassification(dir .. "/train.csv", {tokenizer = tok, max_length = 12})
local test = data.TextClassification(dir .. "/test.csv", {tokenizer = tok, max_length = 12})

local loader = data.Loader(train, {batch_size = 16, shuffle = true, seed = 1})
local x, y = loader:iter()()
local longest = 0
for _, row in ipairs(x.attention_mask:totable()) do
  local n = 0
  for _, v in ipairs(row) do n = n + v end
  longest = math.max(longest, n)
end
T.ok(x.input_ids:size(2) == longest and longest <= 12,
     ("a batch is padded to its longest item (%d tokens), truncated to max_length 12"):format(longest))
T.is(y:size(1), 16, "labels {B}")
T.is(#data.per_class(train, 5), 10, "per_class picks k texts of each class")

local model = graft.models.bert_classifier{config = {vocab_size = #vocab, hidden_size = 32, num_hidden_layers = 2,
  num_attention_heads = 4, intermediate_size = 64, max_position_embeddings = 16, hidden_dropout_prob = 0}, num_classes = 2}
local history = graft.fit(model, loader, {epochs = 6, optimizer = graft.optim.AdamW(model:trainable_parameters(), {lr = 3e-3}),
                                          progress = false})
local res = graft.evaluate(model, data.Loader(test, {batch_size = 32}))
T.ok(res.accuracy >= 0.95, ("fit + evaluate: a 2-layer BERT learns the toy task (test accuracy %.3f, loss %.3f -> %.3f)"):format(
  res.accuracy, history[1].loss, history[#history].loss))
local feats, labels = graft.extract(model, data.Loader(test, {batch_size = 32}), {progress = false})
T.is_deeply(feats:shape(), {100, 32}, "extract: pooled features {N, hidden}")
T.is(labels:size(1), 100, "... with their labels")
local mean = graft.extract(model, data.Loader(test, {batch_size = 32}), {pool = "mean", progress = false})
T.ok((mean - feats):abs():max():item() > 1e-3, "extract{pool = \"mean\"} averages the tokens instead")
model:freeze("^bert%.")
local trainable = 0
for _, p in ipairs(model:trainable_parameters()) do trainable = trainable + p:numel() end
T.is(trainable, 32 * 2 + 2, "freeze(\"^bert%.\") leaves only the classifier")
T.done()
