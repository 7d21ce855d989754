#!/usr/bin/env lua5.4
-- tests/330-bert.t — graft.models.bert against a transcription of Hugging Face's BertModel
-- (tests/oracle/hf_bert.py) with random weights saved under Hugging Face's names: the same
-- last_hidden_state and pooled output for a padded batch with an attention mask and two
-- token types, and the same gradient of every parameter after one backward pass (dropout 0
-- on both sides); BertForSequenceClassification's logits and gradients; checkpoints with
-- real files' quirks (bert. prefix, cls.* heads, position_ids, LayerNorm gamma/beta, no
-- pooler); freezing by layer; the pooled features; save_model round trip; errors.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local json = require "graft.json"
graft.manual_seed(T.seed())

local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local config = {vocab_size = 99, hidden_size = 32, num_hidden_layers = 3, num_attention_heads = 4,
                intermediate_size = 37, max_position_embeddings = 24, type_vocab_size = 2,
                hidden_dropout_prob = 0, attention_probs_dropout_prob = 0, layer_norm_eps = 1e-12,
                hidden_act = "gelu", num_labels = 5, architectures = {"BertForSequenceClassification"},
                classifier_dropout = json.null}
local config_path = dir .. "/config.json"
do
  local f = assert(io.open(config_path, "w"))
  f:write(json.encode(config))
  f:close()
end

-- A padded batch: lengths 11, 7 and 4; the second sentence pair has token type 2.
local B, L = 3, 11
local ids, mask, types = {}, {}, {}
for b, len in ipairs {11, 7, 4} do
  ids[b], mask[b], types[b] = {}, {}, {}
  for t = 1, L do
    ids[b][t] = t <= len and math.random(2, 99) or 1    -- id 1 is [PAD] (Hugging Face's 0)
    mask[b][t] = t <= len and 1 or 0
    types[b][t] = (b == 2 and t > 3 and t <= len) and 2 or 1
  end
end
ids, mask, types = graft.tensor(ids, "i64"), graft.tensor(mask, "i64"), graft.tensor(types, "i64")
local r_hidden, r_pooled, labels = graft.randn{B, L, 32}, graft.randn{B, 32}, graft.tensor({2, 5, 1}, "i64")

local want = oracle.run(([[
import hf_bert
torch.manual_seed(0)
c = hf_bert.Config(**%s)
m = hf_bert.BertForSequenceClassification(c)
with torch.no_grad():   # every parameter random and away from its initial value
    for name, p in m.named_parameters():
        p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.1) + (1 if "LayerNorm.weight" in name else 0))
    m.bert.embeddings.word_embeddings.weight[0].zero_()
ids, mask, types = inp["ids"] - 1, inp["mask"], inp["types"] - 1
h, pooled = m.bert(ids, mask, types)
((h * inp["r_hidden"]).sum() + (pooled * inp["r_pooled"]).sum()).backward()
out["hidden"], out["pooled"] = h.detach(), pooled.detach()
for name, p in m.bert.named_parameters():
    out["grad." + name] = p.grad.clone()
m.zero_grad()
logits = m(ids, mask, types)
F.cross_entropy(logits, inp["labels"] - 1).backward()
out["logits"] = logits.detach()
for name, p in m.named_parameters():
    out["cgrad." + name] = p.grad.clone()
sd = m.state_dict()
save("%s/classifier.safetensors", sd)
save("%s/bert.safetensors", {k[5:]: v for k, v in sd.items() if k.startswith("bert.")})
# a file as old Hugging Face checkpoints are: bert. prefix, pretraining heads, position_ids,
# TensorFlow's gamma/beta LayerNorm names, no pooler
quirky = {}
for k, v in sd.items():
    if k.startswith("bert.") and not k.startswith("bert.pooler."):
        quirky[k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")] = v
quirky["bert.embeddings.position_ids"] = torch.arange(24).expand(1, -1).contiguous()
quirky["cls.predictions.bias"] = torch.zeros(99)
quirky["cls.predictions.transform.dense.weight"] = torch.zeros(32, 32)
quirky["cls.seq_relationship.weight"] = torch.zeros(2, 32)
save("%s/quirky.safetensors", quirky)
out["mean"] = (h * mask[:, :, None]).sum(1).detach() / mask.sum(1, keepdim=True)
]]):format(json.encode(config):gsub("null", "None"), dir, dir, dir),
  {ids = ids, mask = mask, types = types, r_hidden = r_hidden, r_pooled = r_pooled, labels = labels})

-- max |got - want| relative to the largest |want|
local function scaled_close(got, w, name, tol)
  local err = (got - w):abs():max():item() / math.max(w:abs():max():item(), 1e-30)
  T.ok(err <= tol, ("%s: max |diff| / max |value| = %.1e"):format(name, err))
end

local m = graft.models.bert{config = config_path, weights = dir .. "/bert.safetensors"}
local opts = {attention_mask = mask, token_type_ids = types}
local h, pooled = m(ids, opts)
scaled_close(h, want.hidden, "last_hidden_state of a padded batch", 1e-4)
scaled_close(pooled, want.pooled, "pooled output", 1e-4)
;((h * r_hidden):sum() + (pooled * r_pooled):sum()):backward()
-- Each gradient's error relative to its own scale, or to a thousandth of the largest
-- gradient's when smaller: the key biases' gradients are zero in exact arithmetic (a softmax
-- does not change when a row's scores all shift), so theirs is rounding noise.
local function grad_errors(model, prefix)
  local scale = 0
  for _, kv in ipairs(model:named_parameters()) do scale = math.max(scale, want[prefix .. kv[1]]:abs():max():item()) end
  local worst, worst_name, count = 0, nil, 0
  for _, kv in ipairs(model:named_parameters()) do
    local w = want[prefix .. kv[1]]
    local err = (kv[2].grad - w):abs():max():item() / math.max(w:abs():max():item(), scale * 1e-3)
    if err > worst then worst, worst_name = err, kv[1] end
    count = count + 1
  end
  return worst, worst_name, count
end
local worst, worst_name, count = grad_errors(m, "grad.")
T.ok(count == 3 * 16 + 7 and worst <= 1e-3,
     ("the gradients of all %d parameters: worst max |diff| / max |value| %.1e (%s)"):format(count, worst, worst_name))
T.close(m:forward_features(ids, {attention_mask = mask, token_type_ids = types, pool = "cls"}), h:select(2, 1):detach(),
        "pool = \"cls\" is the [CLS] token's hidden state", 0, 0)
scaled_close(m:forward_features(ids, {attention_mask = mask, token_type_ids = types, pool = "mean"}), want.mean,
             "pool = \"mean\" averages the unmasked tokens", 1e-4)
T.close(m:forward_features({input_ids = ids, attention_mask = mask, token_type_ids = types}), pooled:detach(),
        "a batch table works as input; the default pool is the pooler's output", 0, 0)

local c = graft.models.bert_classifier{config = config_path, weights = dir .. "/classifier.safetensors"}
T.is(c.classifier.weight:size(1), 5, "num_classes defaults to config.json's num_labels")
local logits = c(ids, opts)
scaled_close(logits, want.logits, "BertForSequenceClassification logits", 1e-4)
graft.F.cross_entropy(logits, labels):backward()
worst, worst_name, count = grad_errors(c, "cgrad.")
T.ok(count == 3 * 16 + 9 and worst <= 1e-3,
     ("classifier: the cross-entropy gradients of all %d parameters: worst %.1e (%s)"):format(count, worst, worst_name))

-- Real files' quirks
local q = graft.models.bert{config = config_path, weights = dir .. "/quirky.safetensors", verbose = false}
local notes = table.concat(q.load_notes, "; ")
T.like(notes, "skipped 3 cls.* (pretraining heads)", "cls.* heads are skipped with a note")
T.like(notes, "skipped 1 position_ids", "position_ids buffers are skipped with a note")
T.like(notes, "a fresh pooler", "a checkpoint without a pooler keeps a fresh one, with a note")
q:eval()
T.close(q(ids, opts), h:detach(), "bert. prefix and gamma/beta names load to the same encoder", 0, 0)
local from_classifier = graft.models.bert{config = config_path, weights = dir .. "/classifier.safetensors", verbose = false}
T.close(select(2, from_classifier(ids, opts)), pooled:detach(), "BertModel loads from a classifier checkpoint", 0, 0)
T.like(table.concat(from_classifier.load_notes, "; "), "skipped 2 classifier", "... skipping its head with a note")
local c3 = graft.models.bert_classifier{config = config_path, num_classes = 3, weights = dir .. "/bert.safetensors", verbose = false}
T.like(table.concat(c3.load_notes, "; "), "a fresh classifier (the checkpoint has none)", "a classifier loads a BertModel checkpoint")
T.close(c3:forward_features(ids, opts), pooled:detach(), "... whose encoder is the checkpoint's", 0, 0)
local c7 = graft.models.bert_classifier{config = config_path, num_classes = 7, weights = dir .. "/classifier.safetensors", verbose = false}
T.like(table.concat(c7.load_notes, "; "), "a fresh classifier (the checkpoint's has 5 classes)", "another num_classes: a fresh head")

-- Freezing by layer, reset_classifier, save and load
c:freeze("^bert%.encoder%.layer%.[0-1]%.")
local frozen = 0
for _, kv in ipairs(c:named_parameters()) do if not kv[2].requires_grad then frozen = frozen + 1 end end
T.is(frozen, 32, "freeze(\"^bert%.encoder%.layer%.[0-1]%.\") freezes the 32 tensors of two layers")
c:reset_classifier(4)
T.is(c(ids, opts):size(2), 4, "reset_classifier(4): four logits")
local path = dir .. "/saved.safetensors"
c:eval()
graft.save_model(c, path)
local back = graft.load_model(path)
T.close(back(ids, opts), c(ids, opts), "save_model / load_model round trip (config.json inside)", 0, 0)

-- Errors
T.error_like(function() graft.models.bert{} end, "bert: config is required", "no config")
T.error_like(function() graft.models.bert{config = dir .. "/none.json"} end, "bert: config " .. dir .. "/none.json", "missing config file")
T.error_like(function() graft.models.bert{config = {hidden_act = "mish", hidden_size = 8, num_attention_heads = 2}} end,
  'hidden_act "mish" is not supported', "unknown activation")
T.error_like(function() m(graft.ones({1, 25}, "i64")) end, "25 tokens is more than max_position_embeddings (24)", "too long")
T.error_like(function() m(ids, {attention_mask = graft.ones{2, 11}}) end, "attention_mask must be a tensor {3, 11}", "mask shape")
T.error_like(function() graft.models.bert{config = config_path, weights = dir .. "/classifier.safetensors", verbose = false,
  } ; graft.models.bert{config = {vocab_size = 98, hidden_size = 32, num_attention_heads = 4, num_hidden_layers = 3,
  intermediate_size = 37, max_position_embeddings = 24}, weights = dir .. "/bert.safetensors"} end,
  "embeddings.word_embeddings.weight", "a checkpoint for another vocabulary size names the key")
T.done()
