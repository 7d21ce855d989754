#!/usr/bin/env lua5.4
--- Text transfer on real, local data: Debian's package descriptions.
-- 1. The corpus: every package's long description (apt's Translation-en index) and its
--    Section (apt-cache dumpavail), de-duplicated, saved as a JSON-lines snapshot whose size
--    and SHA-256 go into the results; `--corpus FILE` re-runs on a saved snapshot.
-- 2. Pre-training: a WordPiece vocabulary and a small BERT learn from the descriptions by
--    masked-language modelling (15% of tokens: 80% [MASK], 10% random, 10% kept) for
--    `--minutes` of wall time. The test descriptions are left out of it.
-- 3. Transfer: predict a package's Section among ten from its description with k labelled
--    descriptions per section, comparing the same BERT trained from scratch, a linear probe
--    on the pre-trained model's mean-pooled features, and the pre-trained model fine-tuned;
--    all evaluated on 100 held-out descriptions per section.
-- Writes results/text_transfer.json, and the pre-trained model and its vocabulary to
-- models/ (--save-model). The apt index needs translations: when they are missing, run
--   apt-get update -o Acquire::Languages=en
--   lua5.4 examples/text_transfer.lua [--corpus FILE] [--minutes 12] [--k 10,50,100] [--seed 1]
--                                     [--out results] [--save-model models/bert_debian_mini]
local graft = require "graft"
local json, F, data = graft.json, graft.F, graft.data

local parse_options = dofile(arg[0]:gsub("[^/]*$", "") .. "options.lua")   -- examples/options.lua
local opts = parse_options({corpus = "", minutes = 12, k = "10,50,100", seed = 1, out = "results",
                           ["save-model"] = "", vocab = 8000, steps = 0},
  "usage: lua5.4 examples/text_transfer.lua [--corpus FILE] [--minutes M] [--k 10,50,100] [--seed N] "
  .. "[--out DIR] [--save-model PREFIX]")
local ks = {}
for k in tostring(opts.k):gmatch("%d+") do ks[#ks + 1] = tonumber(k) end
local SECTIONS = {"database", "editors", "fonts", "games", "graphics", "mail", "math", "net", "science", "sound"}
local TEST_PER_SECTION = 100
local MAX_TOKENS = 64
local t_start = graft.clock()
local function log(fmt, ...) io.stderr:write(("[%6.1f s] "):format(graft.clock() - t_start), fmt:format(...), "\n") end
os.execute("mkdir -p " .. opts.out)

-- 1. The corpus ----------------------------------------------------------------------------
local function shell(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function build_snapshot(path)
  local sections = {}
  local p = assert(io.popen("apt-cache dumpavail"))
  local pkg
  for line in p:lines() do
    pkg = line:match("^Package: (%S+)") or pkg
    local s = line:match("^Section: (%S+)")
    if s and pkg and not sections[pkg] then sections[pkg] = s:gsub("^.*/", "") end
  end
  p:close()
  local files = shell("ls /var/lib/apt/lists/*_i18n_Translation-en* 2>/dev/null")
  if files == "" then
    error("no Translation-en in /var/lib/apt/lists: run `apt-get update -o Acquire::Languages=en` "
          .. "(Debian images often turn translations off), or give --corpus FILE", 0)
  end
  local records, seen, cur = {}, {}, nil
  local function finish()
    if cur and cur.section then
      local text = table.concat(cur.lines, " ")
      if not seen[text] then seen[text] = true records[#records + 1] = {package = cur.package, section = cur.section, text = text} end
    end
    cur = nil
  end
  for file in files:gmatch("%S+") do
    local q = assert(io.popen("/usr/lib/apt/apt-helper cat-file " .. file))
    for line in q:lines() do
      local name = line:match("^Package: (%S+)")
      local short = line:match("^Description%-en: (.*)")
      if name then finish() cur = {package = name, section = sections[name], lines = {}}
      elseif short and cur then cur.lines[1] = short
      elseif cur and line:match("^ ") then
        local t = line:sub(2)
        if t ~= "." then cur.lines[#cur.lines + 1] = t end
      end
    end
    q:close()
    finish()
  end
  table.sort(records, function(a, b) return a.package < b.package end)
  local f = assert(io.open(path, "wb"))
  for _, r in ipairs(records) do f:write(json.encode(r), "\n") end
  f:close()
end

local corpus_path = opts.corpus ~= "" and opts.corpus or opts.out .. "/debian-descriptions.jsonl"
if opts.corpus == "" and io.open(corpus_path) and opts.steps > 0 then
  log("reusing %s (a short run)", corpus_path)
elseif opts.corpus == "" then
  log("building the corpus snapshot %s from apt's index", corpus_path)
  build_snapshot(corpus_path)
end
local records = {}
for line in io.lines(corpus_path) do records[#records + 1] = json.decode(line) end
local corpus_file = assert(io.open(corpus_path, "rb"))
local corpus_bytes = corpus_file:seek("end")
corpus_file:close()
local corpus_sha = shell("sha256sum " .. corpus_path):match("^(%x+)")
log("corpus: %d descriptions, %d bytes, sha256 %s", #records, corpus_bytes, corpus_sha)

-- Test and labelled pools per section, by a seeded shuffle.
local rng = graft.data.rng(opts.seed)
local by_section = {}
for _, s in ipairs(SECTIONS) do by_section[s] = {} end
for idx, r in ipairs(records) do
  if by_section[r.section] then table.insert(by_section[r.section], idx) end
end
local test_set, pools, is_test = {}, {}, {}
for c, s in ipairs(SECTIONS) do
  local list = by_section[s]
  for j = #list, 2, -1 do
    local k = rng:integer(1, j)
    list[j], list[k] = list[k], list[j]
  end
  if #list < TEST_PER_SECTION + ks[#ks] then
    error(("section %s has %d descriptions, fewer than %d test + %d labelled"):format(s, #list, TEST_PER_SECTION, ks[#ks]), 0)
  end
  pools[c] = {}
  for j, idx in ipairs(list) do
    if j <= TEST_PER_SECTION then test_set[#test_set + 1] = {idx, c} is_test[idx] = true
    else pools[c][#pools[c] + 1] = idx end
  end
end
local pretrain_texts = {}
for idx, r in ipairs(records) do if not is_test[idx] then pretrain_texts[#pretrain_texts + 1] = r.text end end

-- 2. Pre-training --------------------------------------------------------------------------
graft.manual_seed(opts.seed)
local vocab_texts = {}
for j = 1, #pretrain_texts, 3 do vocab_texts[#vocab_texts + 1] = pretrain_texts[j] end
local tok = graft.text.train_wordpiece(vocab_texts, opts.vocab)
log("WordPiece vocabulary: %d tokens from %d descriptions", tok:size(), #vocab_texts)
local CONFIG = {vocab_size = tok:size(), hidden_size = 128, num_hidden_layers = 4, num_attention_heads = 4,
                intermediate_size = 512, max_position_embeddings = MAX_TOKENS, type_vocab_size = 2,
                hidden_dropout_prob = 0.1, attention_probs_dropout_prob = 0.1, num_labels = #SECTIONS,
                model_type = "bert", architectures = {"BertForMaskedLM"}}

-- BertForMaskedLM's head (cls.predictions.*), its decoder tied to the word embeddings.
local Transform = graft.nn.Module:extend "BertPredictionHeadTransform"
function Transform:init(c)
  self.dense = graft.nn.Linear(c.hidden_size, c.hidden_size)
  self.LayerNorm = graft.nn.LayerNorm(c.hidden_size, {eps = 1e-12})
end
function Transform:forward(h) return self.LayerNorm(F.gelu(self.dense(h))) end
local MLMHead = graft.nn.Module:extend "BertLMPredictionHead"
function MLMHead:init(c)
  self.transform = Transform(c)
  self.bias = graft.zeros(c.vocab_size):requires_grad_()
end
function MLMHead:forward(h, embeddings) return graft.matmul(self.transform(h), embeddings:t()) + self.bias end

local encoded = {}
for j, t in ipairs(pretrain_texts) do encoded[j] = tok:encode(t, {max_length = MAX_TOKENS}).input_ids end
log("tokenized %d pre-training descriptions", #encoded)
local MASK, CLS, SEP, PAD = tok:id("[MASK]"), tok:id("[CLS]"), tok:id("[SEP]"), tok:id("[PAD]")
local V = tok:size()

-- A masked-LM batch: ids with 15% of real tokens replaced, the flat positions and the targets.
local function mlm_batch(rows)
  local longest = 0
  for _, r in ipairs(rows) do longest = math.max(longest, #r) end
  local ids, mask, positions, targets = {}, {}, {}, {}
  for b, r in ipairs(rows) do
    ids[b], mask[b] = {}, {}
    for t = 1, longest do
      local id = r[t]
      ids[b][t], mask[b][t] = id or PAD, id and 1 or 0
      if id and id ~= CLS and id ~= SEP and rng:uniform() < 0.15 then
        positions[#positions + 1] = (b - 1) * longest + t
        targets[#targets + 1] = id
        local u = rng:uniform()
        if u < 0.8 then ids[b][t] = MASK elseif u < 0.9 then ids[b][t] = rng:integer(6, V) end
      end
    end
  end
  if #positions == 0 then positions[1], targets[1] = 2, ids[1][2] end
  return graft.tensor(ids, "i64"), graft.tensor(mask, "i64"), graft.tensor(positions, "i64"), graft.tensor(targets, "i64")
end

-- Pre-training runs without dropout: a short run underfits rather than overfits, and dropout
-- only slows it; the saved config keeps BERT's 0.1 for fine-tuning.
local PRETRAIN_CONFIG = {}
for key, v in pairs(CONFIG) do PRETRAIN_CONFIG[key] = v end
PRETRAIN_CONFIG.hidden_dropout_prob, PRETRAIN_CONFIG.attention_probs_dropout_prob = 0, 0
local bert = graft.models.bert{config = PRETRAIN_CONFIG}
local head = MLMHead(CONFIG)
local params = bert:parameters()
for _, p in ipairs(head:parameters()) do params[#params + 1] = p end
local BATCH, PEAK_LR, WARMUP = 64, 1e-3, 200
local opt = graft.optim.AdamW(params, {lr = PEAK_LR, weight_decay = 0.01})
local budget = opts.minutes * 60
local step, began, loss_avg, order, at = 0, graft.clock(), nil, nil, 1
local history = {}
bert:train()
while (opts.steps > 0 and step < opts.steps) or (opts.steps == 0 and graft.clock() - began < budget) do
  if not order or at > #order then
    order = graft.randperm(#encoded):totable()
    at = 1
  end
  local rows = {}
  for b = 1, BATCH do
    rows[b] = encoded[order[at]]
    at = at + 1
    if at > #order then break end
  end
  step = step + 1
  -- linear warm-up, then linear decay to 5% over the steps the budget is expected to hold
  local expected = opts.steps > 0 and opts.steps
    or (step > 20 and budget / ((graft.clock() - began) / (step - 1)) or math.huge)
  local lr = PEAK_LR * math.min(step / WARMUP, math.max(0.05, 1 - step / expected))
  for _, g in ipairs(opt.param_groups) do g.lr = lr end
  local ids, mask, positions, targets = mlm_batch(rows)
  local h = bert(ids, {attention_mask = mask})
  local flat = h:reshape(-1, CONFIG.hidden_size):index_select(1, positions)
  local loss = F.cross_entropy(head(flat, bert.embeddings.word_embeddings.weight), targets)
  opt:zero_grad()
  loss:backward()
  graft.transfer.clip_grad_norm(params, 1.0)
  opt:step()
  local v = loss:item()
  loss_avg = loss_avg and 0.98 * loss_avg + 0.02 * v or v
  if step % 100 == 0 then
    log("pre-training step %d: masked-LM loss %.3f (smoothed), %.0f s", step, loss_avg, graft.clock() - began)
    history[#history + 1] = {step = step, loss = loss_avg}
  end
end
local pretrain_seconds = graft.clock() - began
log("pre-trained %d steps (%d sequences) in %.0f s, masked-LM loss %.3f", step, step * BATCH, pretrain_seconds, loss_avg)
bert:eval()
local model_path = opts["save-model"] ~= "" and opts["save-model"] .. ".safetensors" or opts.out .. "/bert_debian_mini.safetensors"
local vocab_path = model_path:gsub("%.safetensors$", ".vocab.txt")
bert.config.args.config = CONFIG   -- saved with fine-tuning's dropout
graft.save_model(bert, model_path)
tok:save(vocab_path)

-- 3. Transfer ------------------------------------------------------------------------------
local function write_csv(path, items)
  local lines = {"text,label"}
  for _, it in ipairs(items) do
    lines[#lines + 1] = ('"%s",%s'):format(records[it[1]].text:gsub('"', '""'), SECTIONS[it[2]])
  end
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end
write_csv(opts.out .. "/sections-test.csv", test_set)
local test_ds = data.TextClassification(opts.out .. "/sections-test.csv", {tokenizer = tok, max_length = MAX_TOKENS, classes = SECTIONS})
local test_loader = data.Loader(test_ds, {batch_size = 100})

local function train_set(k)
  local items = {}
  for c = 1, #SECTIONS do for j = 1, k do items[#items + 1] = {pools[c][j], c} end end
  local path = ("%s/sections-train-%d.csv"):format(opts.out, k)
  write_csv(path, items)
  return data.TextClassification(path, {tokenizer = tok, max_length = MAX_TOKENS, classes = SECTIONS})
end

local function finetune(model, ds, lr)
  local loader = data.Loader(ds, {batch_size = 16, shuffle = true, seed = opts.seed})
  local epochs = math.min(40, math.max(3, math.ceil(300 / #loader)))
  local opt_ft = graft.optim.AdamW(model:trainable_parameters(), {lr = lr, weight_decay = 0.01})
  local sched = graft.optim.OneCycleLR(opt_ft, {max_lr = lr, total_steps = epochs * #loader, pct_start = 0.1})
  graft.fit(model, loader, {epochs = epochs, optimizer = opt_ft, scheduler = sched, progress = false})
  return graft.evaluate(model, test_loader).accuracy
end

local results = {k = ks, accuracy = {scratch = {}, linear_probe = {}, finetune = {}}}
print(("%-6s %10s %14s %10s"):format("k", "scratch", "linear_probe", "finetune"))
for ki, k in ipairs(ks) do
  local ds = train_set(k)
  graft.manual_seed(opts.seed + k)
  local scratch = graft.models.bert_classifier{config = CONFIG, num_classes = #SECTIONS}
  results.accuracy.scratch[ki] = finetune(scratch, ds, 1e-3)
  log("k = %d: scratch %.3f", k, results.accuracy.scratch[ki])

  local trained = graft.models.bert_classifier{config = CONFIG, num_classes = #SECTIONS, weights = model_path, verbose = false}
  local feats, labels = graft.extract(trained, data.Loader(ds, {batch_size = 100}), {pool = "mean", progress = false})
  local probe = graft.transfer.linear_probe(feats, labels, {num_classes = #SECTIONS})
  local tf, tl = graft.extract(trained, test_loader, {pool = "mean", progress = false})
  results.accuracy.linear_probe[ki] = graft.transfer.count_correct(probe(tf), tl) / tl:size(1)
  log("k = %d: linear probe %.3f", k, results.accuracy.linear_probe[ki])

  graft.manual_seed(opts.seed + k)
  results.accuracy.finetune[ki] = finetune(trained, ds, 3e-4)
  log("k = %d: fine-tuned %.3f", k, results.accuracy.finetune[ki])
  print(("%-6d %10.3f %14.3f %10.3f"):format(k, results.accuracy.scratch[ki], results.accuracy.linear_probe[ki],
                                             results.accuracy.finetune[ki]))
end
results.corpus = {file = corpus_path, descriptions = #records, bytes = corpus_bytes, sha256 = corpus_sha,
                  pretraining_descriptions = #pretrain_texts, test_per_section = TEST_PER_SECTION, sections = SECTIONS}
results.pretraining = {steps = step, batch_size = BATCH, max_tokens = MAX_TOKENS, seconds = pretrain_seconds,
                       final_loss = loss_avg, vocab_size = tok:size(), config = CONFIG, history = history,
                       model = model_path, vocab = vocab_path}
results.seconds = graft.clock() - t_start
local f = assert(io.open(opts.out .. "/text_transfer.json", "w"))
f:write(json.encode(results), "\n")
f:close()
log("wrote %s/text_transfer.json (%.0f s in all)", opts.out, results.seconds)
